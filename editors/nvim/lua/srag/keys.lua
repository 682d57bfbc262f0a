--- srag.keys: insert-mode keys that act on the ghost text and fall through to their usual meaning otherwise.
local M = {}

local previous = {} ---@type table<string, table> lhs -> the insert-mode mapping that was there before ours

--- What the key does when no suggestion is shown: the mapping it had before, else the key itself.
function M.fallback(lhs)
  local prev = previous[lhs]
  if not prev or vim.tbl_isempty(prev) then
    return vim.keycode(lhs)
  end
  if prev.expr == 1 then
    local keys = prev.callback and prev.callback() or vim.api.nvim_eval(prev.rhs)
    return prev.replace_keycodes == 1 and vim.keycode(keys or '') or (keys or '')
  end
  if prev.callback then
    return vim.keycode(('<Cmd>lua require("srag.keys").run_previous(%q)<CR>'):format(lhs))
  end
  return vim.keycode(prev.rhs or lhs)
end

function M.run_previous(lhs)
  local prev = previous[lhs]
  if prev and prev.callback then
    prev.callback()
  end
end

---@param lhs string|false
---@param when_shown string   keys to run when a suggestion is shown
local function map(lhs, when_shown, desc)
  if not lhs or lhs == '' then
    return
  end
  local existing = vim.fn.maparg(lhs, 'i', false, true)
  if existing.desc == nil or not existing.desc:match('^srag') then
    previous[lhs] = existing
  end
  vim.keymap.set('i', lhs, function()
    if require('srag.suggestion').visible() then
      return vim.keycode(when_shown)
    end
    return M.fallback(lhs)
  end, { expr = true, replace_keycodes = false, silent = true, desc = 'srag: ' .. desc })
end

---@param keys srag.Keys
function M.setup(keys)
  map(keys.accept, '<Cmd>lua require("srag").accept()<CR>', 'accept the suggestion')
  map(keys.accept_word, '<Cmd>lua require("srag").accept_word()<CR>', 'accept a word of the suggestion')
  map(keys.accept_line, '<Cmd>lua require("srag").accept_line()<CR>', 'accept a line of the suggestion')
  map(keys.dismiss, '<Cmd>lua require("srag").dismiss()<CR>', 'dismiss the suggestion')
end

return M
