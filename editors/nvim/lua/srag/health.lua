--- srag.health: `:checkhealth srag` runs `srag-lsp doctor --json` (the same checks as the command line) and reports
--- each finding with its fix.
local config = require('srag.config')

local M = {}

local report = {
  ok = function(f)
    vim.health.ok(('%s: %s'):format(f.name, f.detail))
  end,
  info = function(f)
    vim.health.info(('%s: %s'):format(f.name, f.detail))
  end,
  warn = function(f)
    vim.health.warn(('%s: %s'):format(f.name, f.detail), f.fix ~= '' and { f.fix } or nil)
  end,
  fail = function(f)
    vim.health.error(('%s: %s'):format(f.name, f.detail), f.fix ~= '' and { f.fix } or nil)
  end,
}

function M.check()
  vim.health.start('srag: the server command')
  local cmd, tried = config.find_cmd(config.options.cmd)
  if not cmd then
    vim.health.error('no srag-lsp found; tried ' .. table.concat(tried, ', '),
      { 'run scripts/setup.sh in the srag-lsp clone, or setup({cmd = {"/path/to/srag-lsp", "--stdio"}})' })
    return
  end
  vim.health.ok(table.concat(cmd, ' '))
  vim.health.start('srag: srag-lsp doctor')
  local workspace = vim.fs.root(0, config.options.root_markers) or vim.fn.getcwd()
  local done = vim.system({ cmd[1], 'doctor', '--json', '--workspace', workspace }, { text = true }):wait(120000)
  local ok, parsed = pcall(vim.json.decode, done.stdout or '')
  if not ok or type(parsed) ~= 'table' or type(parsed.checks) ~= 'table' then
    vim.health.error(('`%s doctor --json` gave no report (exit %s): %s'):format(cmd[1], tostring(done.code),
      (done.stderr or ''):sub(1, 500)))
    return
  end
  for _, finding in ipairs(parsed.checks) do
    (report[finding.status] or report.info)(finding)
  end
end

return M
