--- srag.suggestion: the suggestion shown in each buffer, kept in step with the daemon and the cursor.
---
--- While you type, each text change or cursor move in insert mode sends `textDocument/inlineCompletion`
--- (cancelling the previous one). The daemon answers with the best text so far and streams the rest as
--- `srag/suggestion` notifications; one is drawn only if it is for the buffer's current version and the
--- cursor's position, so stale text never shows. Typing the characters the ghost text starts with keeps the
--- rest; any other edit or a cursor move drops it.
local config = require('srag.config')
local feedback = require('srag.feedback')
local ghost = require('srag.ghost')

local M = {}

M.enabled = true

---@class srag.Shown
---@field id string
---@field stage string          "draft" | "refined"
---@field text string           what is drawn (the rest, after characters typed through)
---@field uri string
---@field version integer       the buffer version (LSP) it belongs to
---@field row integer           0-based
---@field col integer           0-based byte column of the cursor
---@field line_prefix string    the cursor line's text before `col`
---@field final boolean         the daemon will send no more for this request
---@field from_daemon boolean   false for an answer with no notification behind it (no id the daemon knows)
---@field announced table<string, boolean>  stages reported with srag/didShow
---@field client_id integer

---@type table<integer, {shown: srag.Shown|nil, req: {client_id: integer, id: integer}|nil, req_key: string|nil}>
local buffers = {}

--- What happened, newest last (bounded): for :SragStatus and tests.
M.events = {}
M.counts = { received = 0, drawn = 0, stale = 0 }
M.last = nil ---@type srag.Shown|nil the last suggestion drawn anywhere

local local_ids = 0

local function log_event(e)
  e.at = vim.uv.now()
  table.insert(M.events, e)
  if #M.events > 500 then
    table.remove(M.events, 1)
  end
end

local function state(bufnr)
  if bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  local st = buffers[bufnr]
  if not st then
    st = {}
    buffers[bufnr] = st
  end
  return st
end

function M.client(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = config.options.name })[1]
end

--- The LSP version of the buffer: what the client last sent in didOpen (0) or didChange (the changedtick).
function M.version(bufnr)
  if bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  return vim.lsp.util.buf_versions[bufnr]
end

--- The cursor (0-based row, byte column) when `bufnr` is the current buffer, else nil.
local function cursor(bufnr)
  if vim.api.nvim_get_current_buf() ~= bufnr then
    return nil
  end
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function in_insert()
  return vim.api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

local function line_before(bufnr, row, col)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  return line:sub(1, col)
end

local function redraw(bufnr, s)
  local o = config.options
  ghost.draw(bufnr, s.row, s.col, s.text, { hl_group = o.hl_group, inline = o.inline })
end

--- Is a suggestion drawn for the buffer's current version and cursor?
function M.visible(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local s = state(bufnr).shown
  if not s or s.text == '' then
    return false
  end
  local row, col = cursor(bufnr)
  return row == s.row and col == s.col and s.version == M.version(bufnr)
end

--- A copy of what is shown in `bufnr` (nil when nothing is).
function M.current(bufnr)
  local s = state(bufnr or vim.api.nvim_get_current_buf()).shown
  return s and s.text ~= '' and vim.deepcopy(s) or nil
end

---@param reason string "dismiss" | "leave" | "moved" | "stale" | "replaced" | "toggle" | "accepted" | "typed"
function M.hide(bufnr, reason)
  local st = state(bufnr)
  local s = st.shown
  st.shown = nil
  ghost.clear(bufnr)
  if not s then
    return
  end
  log_event({ kind = 'hide', id = s.id, stage = s.stage, reason = reason })
  if reason ~= 'accepted' and reason ~= 'typed' and s.from_daemon and next(s.announced) then
    feedback.dismissed(vim.lsp.get_client_by_id(s.client_id), s)
  end
end

local function show(bufnr, s)
  local st = state(bufnr)
  st.shown = s
  if s.text == '' then
    ghost.clear(bufnr)
    return
  end
  redraw(bufnr, s)
  M.counts.drawn = M.counts.drawn + 1
  M.last = s
  log_event({ kind = 'draw', id = s.id, stage = s.stage, version = s.version, final = s.final, text = s.text })
  if s.from_daemon and not s.announced[s.stage] then
    s.announced[s.stage] = true
    feedback.shown(vim.lsp.get_client_by_id(s.client_id), s)
  end
  vim.api.nvim_exec_autocmds('User', {
    pattern = 'SragSuggestion',
    modeline = false,
    data = { bufnr = bufnr, id = s.id, stage = s.stage, text = s.text, final = s.final },
  })
end

--- Handler for the daemon's `srag/suggestion` notification.
function M.on_notification(_, result, ctx)
  if type(result) ~= 'table' or type(result.text) ~= 'string' or type(result.position) ~= 'table' then
    return
  end
  M.counts.received = M.counts.received + 1
  local bufnr = vim.api.nvim_get_current_buf()
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local row, col = cursor(bufnr)
  local fresh = M.enabled
    and client ~= nil
    and in_insert()
    and result.uri == vim.uri_from_bufnr(bufnr)
    and result.version == M.version(bufnr)
    and result.position.line == row
    and result.position.character == vim.lsp.util.character_offset(bufnr, row, col, client.offset_encoding)
  if not fresh then
    M.counts.stale = M.counts.stale + 1
    log_event({ kind = 'stale', id = result.id, stage = result.stage, version = result.version })
    return
  end
  local st = state(bufnr)
  local s = st.shown
  if s and s.id ~= result.id then
    M.hide(bufnr, s.from_daemon and 'replaced' or 'adopted')
    s = nil
  end
  if not s then
    s = {
      id = result.id,
      uri = result.uri,
      version = result.version,
      row = row,
      col = col,
      line_prefix = line_before(bufnr, row, col),
      from_daemon = true,
      announced = {},
      client_id = ctx.client_id,
    }
  end
  s.stage = result.stage == 'refined' and 'refined' or 'draft'
  s.text = result.text
  s.final = result.final == true
  show(bufnr, s)
end

local function on_response(bufnr, key, err, result, ctx)
  local st = state(bufnr)
  if st.req and st.req.id == ctx.request_id then
    st.req = nil
  end
  if err or type(result) ~= 'table' or not M.enabled or not in_insert() then
    return
  end
  local row, col = cursor(bufnr)
  if row == nil or table.concat({ M.version(bufnr), row, col }, ':') ~= key then
    return -- stale
  end
  if M.visible(bufnr) then
    return -- the notifications (or the characters typed through) already show this position
  end
  local items = result.items or result
  local item = items[1]
  if not item then
    return
  end
  local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
  if type(text) ~= 'string' or text == '' then
    return
  end
  if st.shown then
    M.hide(bufnr, 'stale')
  end
  local_ids = local_ids + 1
  show(bufnr, {
    id = 'nvim-' .. local_ids,
    stage = 'refined',
    text = text,
    uri = vim.uri_from_bufnr(bufnr),
    version = M.version(bufnr),
    row = row,
    col = col,
    line_prefix = line_before(bufnr, row, col),
    final = true,
    from_daemon = false,
    announced = {},
    client_id = ctx.client_id,
  })
end

function M.cancel(bufnr)
  local st = state(bufnr)
  local req = st.req
  st.req, st.req_key = nil, nil
  if req then
    local client = vim.lsp.get_client_by_id(req.client_id)
    if client then
      pcall(client.cancel_request, client, req.id)
    end
  end
end

--- Ask for a suggestion at the cursor unless one was asked for this very version and position.
function M.request(bufnr)
  if not M.enabled or not in_insert() then
    return
  end
  local client = M.client(bufnr)
  local row, col = cursor(bufnr)
  if not client or row == nil then
    return
  end
  local st = state(bufnr)
  local key = table.concat({ M.version(bufnr), row, col }, ':')
  if st.req_key == key then
    return
  end
  M.cancel(bufnr)
  st.req_key = key
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 2 } -- Automatic
  local ok, id = client:request('textDocument/inlineCompletion', params, function(err, result, ctx)
    on_response(bufnr, key, err, result, ctx)
  end, bufnr)
  if ok and id then
    st.req = { client_id = client.id, id = id }
  end
end

--- After a text change or a cursor move in insert mode: keep, shorten or drop what is shown, then ask again.
function M.sync(bufnr)
  local st = state(bufnr)
  local s = st.shown
  local row, col = cursor(bufnr)
  if row == nil then
    return
  end
  if s then
    local version = M.version(bufnr)
    if version ~= s.version then
      local before = line_before(bufnr, row, col)
      local typed = row == s.row and col > s.col and before:sub(1, #s.line_prefix) == s.line_prefix
        and before:sub(#s.line_prefix + 1)
      if typed and typed ~= '' and #typed < #s.text and s.text:sub(1, #typed) == typed then
        s.text, s.version, s.col, s.line_prefix = s.text:sub(#typed + 1), version, col, before
        redraw(bufnr, s)
        log_event({ kind = 'typed', id = s.id, stage = s.stage, version = version, text = s.text })
      elseif typed == s.text then
        M.hide(bufnr, 'typed') -- typed out to the end: neither accepted with a key nor dismissed
      else
        M.hide(bufnr, 'stale')
      end
    elseif row ~= s.row or col ~= s.col then
      M.hide(bufnr, 'moved')
    end
  end
  M.request(bufnr)
end

local function next_word(text)
  return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text:match('^%s+') or text
end

local function next_line(text)
  local nl = text:find('\n', 1, true)
  if nl == nil then
    return text
  end
  if nl > 1 then
    return text:sub(1, nl - 1)
  end
  return '\n' .. (text:sub(2):match('^[^\n]*'))
end

--- Insert the shown suggestion (`kind`: "all", "word" or "line") at the cursor. Returns true if it did.
function M.accept(kind)
  local bufnr = vim.api.nvim_get_current_buf()
  if not M.visible(bufnr) then
    return false
  end
  local st = state(bufnr)
  local s = st.shown
  local part = kind == 'word' and next_word(s.text) or kind == 'line' and next_line(s.text) or s.text
  local rest = s.text:sub(#part + 1)
  local lines = vim.split(part, '\n', { plain = true })
  vim.api.nvim_buf_set_text(bufnr, s.row, s.col, s.row, s.col, lines)
  local row = s.row + #lines - 1
  local col = #lines == 1 and s.col + #part or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  log_event({ kind = 'accept', id = s.id, stage = s.stage, text = part, partial = rest ~= '' })
  if s.from_daemon then
    feedback.accepted(vim.lsp.get_client_by_id(s.client_id), s, part, rest ~= '')
  end
  if rest == '' then
    M.hide(bufnr, 'accepted')
  else
    s.text, s.row, s.col, s.version = rest, row, col, M.version(bufnr)
    s.line_prefix = line_before(bufnr, row, col)
    redraw(bufnr, s)
  end
  return true
end

function M.dismiss(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  M.cancel(bufnr)
  M.hide(bufnr, 'dismiss')
end

function M.detach(bufnr)
  M.cancel(bufnr)
  M.hide(bufnr, 'leave')
  buffers[bufnr] = nil
  pcall(vim.api.nvim_del_augroup_by_name, 'srag.suggestion.' .. bufnr)
end

--- Buffer-local autocommands that keep the suggestion in step (called when the client attaches).
function M.attach(bufnr)
  local group = vim.api.nvim_create_augroup('srag.suggestion.' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'InsertEnter', 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      M.sync(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      M.dismiss(ev.buf)
      state(ev.buf).req_key = nil
    end,
  })
  if bufnr == vim.api.nvim_get_current_buf() and in_insert() then
    vim.schedule(function() -- already typing when the server came up
      M.sync(bufnr)
    end)
  end
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      M.detach(ev.buf)
      pcall(vim.api.nvim_del_augroup_by_id, group)
    end,
  })
end

return M
