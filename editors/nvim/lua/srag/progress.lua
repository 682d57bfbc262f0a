--- srag.progress: indexing progress from `$/progress` (the LspProgress event), for vim.notify and a statusline.
local config = require('srag.config')

local M = {}

M.current = nil ---@type {title: string, message: string|nil, percentage: integer|nil, done: boolean}|nil

--- A short text for a statusline: "srag: indexing 40%" while indexing, "" otherwise.
function M.statusline()
  local p = M.current
  if not p or p.done then
    return ''
  end
  local pct = p.percentage and (' ' .. p.percentage .. '%') or ''
  local title = p.title ~= '' and p.title or 'working'
  return (title:match('^srag') and '%s%s' or 'srag: %s%s'):format(title, pct)
end

local function on_progress(ev)
  local client = vim.lsp.get_client_by_id(ev.data.client_id)
  if not client or client.name ~= config.options.name then
    return
  end
  local value = ev.data.params and ev.data.params.value
  if type(value) ~= 'table' then
    return
  end
  local p = M.current or { title = '' }
  p.title = value.title or p.title or ''
  p.message = value.message or p.message
  p.percentage = value.percentage or p.percentage
  p.done = value.kind == 'end'
  M.current = p
  if config.options.progress and (value.kind == 'begin' or value.kind == 'end') then
    local what = p.title .. (p.message and (': ' .. p.message) or '')
    if not what:match('^srag') then
      what = 'srag: ' .. what
    end
    vim.notify(what .. (p.done and ' (done)' or ''), vim.log.levels.INFO)
  end
  pcall(vim.cmd, 'redrawstatus!')
end

function M.setup()
  vim.api.nvim_create_autocmd('LspProgress', {
    group = vim.api.nvim_create_augroup('srag.progress', { clear = true }),
    callback = on_progress,
  })
end

return M
