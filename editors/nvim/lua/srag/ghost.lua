--- srag.ghost: draws a suggestion as extmark virtual text (first line at the cursor, the rest as lines below).
local M = {}

M.ns = vim.api.nvim_create_namespace('srag.ghost')

local marks = {} ---@type table<integer, integer> bufnr -> extmark id

local function expand_tabs(bufnr, s)
  local ts = vim.bo[bufnr].tabstop
  return (s:gsub('\t', string.rep(' ', ts > 0 and ts or 8)))
end

--- Draw `text` at (row, col) (0-based, bytes) in `bufnr`, replacing what was drawn there.
---@param opts {hl_group: string, inline: boolean}
function M.draw(bufnr, row, col, text, opts)
  local lines = vim.split(text, '\n', { plain = true })
  local mark = {
    id = marks[bufnr],
    hl_mode = 'combine',
    priority = 200,
  }
  if lines[1] ~= '' then
    mark.virt_text = { { expand_tabs(bufnr, lines[1]), opts.hl_group } }
    mark.virt_text_pos = opts.inline and 'inline' or 'eol'
  end
  if #lines > 1 then
    mark.virt_lines = {}
    for i = 2, #lines do
      table.insert(mark.virt_lines, { { expand_tabs(bufnr, lines[i]), opts.hl_group } })
    end
  end
  local ok, id = pcall(vim.api.nvim_buf_set_extmark, bufnr, M.ns, row, col, mark)
  if ok then
    marks[bufnr] = id
  else
    M.clear(bufnr)
  end
  return ok
end

function M.clear(bufnr)
  marks[bufnr] = nil
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- What is drawn in `bufnr` now: {row, col, first, rest} or nil (for :SragStatus and tests).
function M.drawn(bufnr)
  if bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  local id = marks[bufnr]
  if not id or not vim.api.nvim_buf_is_valid(bufnr) then
    return nil
  end
  local m = vim.api.nvim_buf_get_extmark_by_id(bufnr, M.ns, id, { details = true })
  if not m or not m[1] then
    return nil
  end
  local details = m[3] or {}
  local first = details.virt_text and details.virt_text[1] and details.virt_text[1][1] or ''
  local rest = {}
  for _, l in ipairs(details.virt_lines or {}) do
    table.insert(rest, l[1] and l[1][1] or '')
  end
  return { row = m[1], col = m[2], first = first, rest = rest }
end

return M
