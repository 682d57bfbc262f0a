--- srag.feedback: tells the daemon what happened to a suggestion (srag/didShow, srag/didAccept, srag/didDismiss).
--- The daemon counts them for `srag-lsp stats`; nothing leaves the machine.
local M = {}

local function send(client, method, params)
  if client and not client:is_stopped() then
    pcall(client.notify, client, method, params)
  end
end

---@param s {id: string, uri: string, stage: string, text: string}
function M.shown(client, s)
  send(client, 'srag/didShow', { id = s.id, uri = s.uri, stage = s.stage, text = s.text })
end

function M.accepted(client, s, accepted, partial)
  send(client, 'srag/didAccept', {
    id = s.id,
    uri = s.uri,
    stage = s.stage,
    text = s.text,
    accepted = accepted,
    partial = partial,
  })
end

function M.dismissed(client, s)
  send(client, 'srag/didDismiss', { id = s.id, uri = s.uri, stage = s.stage })
end

return M
