--- srag.config: the plugin's options, their defaults, and where the `srag-lsp` command is found.
local M = {}

---@class srag.Keys
---@field accept string|false        accept the whole suggestion (falls through when none is shown)
---@field accept_word string|false   accept up to the end of the next word
---@field accept_line string|false   accept up to the end of the line
---@field dismiss string|false       hide the suggestion (falls through when none is shown)

---@class srag.Options
---@field name string                the LSP client's name (`vim.lsp.config[name]`)
---@field cmd string[]|nil           the server command; nil: the project's .venv, else `srag-lsp` on PATH
---@field filetypes string[]|nil     nil: every buffer that has a filetype
---@field root_markers string[]      the workspace root is the nearest folder holding one of these
---@field settings table             server settings (README "Settings"), sent as initializationOptions
---@field keys srag.Keys
---@field hl_group string            highlight of the ghost text (default: linked to Comment)
---@field inline boolean             first line drawn inline at the cursor (else at the end of the line)
---@field progress boolean           vim.notify when indexing starts and ends
---@field enabled boolean            ghost text on at start (`:SragToggle`)
---@field lsp table                  more fields for vim.lsp.config (capabilities, on_attach, ...)
M.defaults = {
  name = 'srag',
  cmd = nil,
  filetypes = nil,
  root_markers = { '.git', '.hg', 'pyproject.toml', 'package.json', 'go.mod', 'Cargo.toml' },
  settings = {},
  keys = { accept = '<Tab>', accept_word = '<M-w>', accept_line = '<M-l>', dismiss = '<C-e>' },
  hl_group = 'SragGhost',
  inline = true,
  progress = true,
  enabled = true,
  lsp = {},
}

---@type srag.Options
M.options = vim.deepcopy(M.defaults)

--- The repository this plugin lives in (editors/nvim/lua/srag/config.lua -> five levels up).
function M.repository()
  local source = debug.getinfo(1, 'S').source:gsub('^@', '')
  return vim.fn.fnamemodify(source, ':p:h:h:h:h:h')
end

--- The server command: the given one, else the project's .venv, else `srag-lsp` on PATH.
--- Returns the command (nil when none is found) and the places that were tried.
---@return string[]|nil, string[]
function M.find_cmd(cmd)
  if cmd and #cmd > 0 then
    local exe = vim.fn.exepath(cmd[1])
    if exe ~= '' then
      return cmd, { cmd[1] }
    end
    return nil, { cmd[1] .. ' (from setup({cmd = ...}))' }
  end
  local tried = {}
  local venv = M.repository() .. '/.venv/bin/srag-lsp'
  table.insert(tried, venv)
  if vim.fn.executable(venv) == 1 then
    return { venv, '--stdio' }, tried
  end
  table.insert(tried, 'srag-lsp on PATH')
  local on_path = vim.fn.exepath('srag-lsp')
  if on_path ~= '' then
    return { on_path, '--stdio' }, tried
  end
  return nil, tried
end

---@param opts table|nil
---@return srag.Options
function M.setup(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  return M.options
end

return M
