--- srag: Neovim client for srag-lsp. Streams ghost text that is refined in place, with keys to accept it.
---
---   require("srag").setup({})   -- registers the server with vim.lsp.config / vim.lsp.enable
---
--- See :help srag and the README's "Neovim" section.
local config = require('srag.config')
local suggestion = require('srag.suggestion')

local M = {}

M.accept = function()
  return suggestion.accept('all')
end
M.accept_word = function()
  return suggestion.accept('word')
end
M.accept_line = function()
  return suggestion.accept('line')
end
M.dismiss = function()
  suggestion.dismiss()
end
M.visible = function()
  return suggestion.visible()
end
M.statusline = function()
  return require('srag.progress').statusline()
end

--- Neovim 0.12 has its own inline completion UI with one answer per request; ours streams, so never both.
local function keep_our_renderer(client, bufnr)
  local ic = vim.lsp.inline_completion
  if type(ic) == 'table' and type(ic.enable) == 'function' then
    pcall(ic.enable, false, { client_id = client.id, bufnr = bufnr })
  end
end

local function root_dir(markers)
  return function(bufnr, on_dir)
    local root = vim.fs.root(bufnr, markers)
    if not root then
      local name = vim.api.nvim_buf_get_name(bufnr)
      root = name ~= '' and vim.fs.dirname(name) or nil
    end
    on_dir(root)
  end
end

---@param opts srag.Options|nil
function M.setup(opts)
  local o = config.setup(opts)
  suggestion.enabled = o.enabled
  vim.api.nvim_set_hl(0, 'SragGhost', { link = 'Comment', default = true })

  local cmd, tried = config.find_cmd(o.cmd)
  if not cmd then
    vim.notify('srag: no srag-lsp found; tried ' .. table.concat(tried, ', ')
      .. '. Run scripts/setup.sh in the srag-lsp clone, or pass setup({cmd = {"/path/to/srag-lsp", "--stdio"}}).',
      vim.log.levels.ERROR)
    return false
  end

  local lsp = vim.tbl_deep_extend('force', {
    cmd = cmd,
    filetypes = o.filetypes,
    root_dir = root_dir(o.root_markers),
    init_options = vim.tbl_deep_extend('force', vim.deepcopy(o.settings), { streaming = true }),
    settings = o.settings,
    handlers = { ['srag/suggestion'] = suggestion.on_notification },
  }, o.lsp)
  vim.lsp.config(o.name, lsp)
  vim.lsp.enable(o.name)

  vim.api.nvim_create_autocmd('LspAttach', {
    group = vim.api.nvim_create_augroup('srag.attach', { clear = true }),
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == o.name then
        keep_our_renderer(client, ev.buf)
        suggestion.attach(ev.buf)
        require('srag.rest').attach(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd('LspDetach', {
    group = 'srag.attach',
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == o.name then
        suggestion.detach(ev.buf)
        require('srag.rest').detach(ev.buf)
      end
    end,
  })
  require('srag.keys').setup(o.keys)
  require('srag.progress').setup()
  require('srag.commands').setup()
  return true
end

return M
