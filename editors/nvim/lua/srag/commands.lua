--- srag.commands: :SragStatus, :SragContext, :SragToggle, :SragStats and :SragLog.
local config = require('srag.config')
local suggestion = require('srag.suggestion')

local M = {}

local function client_or_warn()
  local client = suggestion.client(vim.api.nvim_get_current_buf())
    or vim.lsp.get_clients({ name = config.options.name })[1]
  if not client then
    vim.notify('srag: the server is not running for this buffer (see :checkhealth vim.lsp and :SragLog)',
      vim.log.levels.WARN)
  end
  return client
end

--- Ask `method` and hand the result to `done` (errors go to vim.notify).
local function ask(client, method, done)
  client:request(method, vim.empty_dict(), function(err, result)
    if err then
      vim.notify(('srag: %s failed: %s'):format(method, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    done(result or {})
  end, vim.api.nvim_get_current_buf())
end

--- A read-only scratch buffer in a split, named `name`, holding `lines`.
function M.scratch(name, lines, filetype)
  local existing = vim.fn.bufnr(name)
  if existing ~= -1 then
    pcall(vim.api.nvim_buf_delete, existing, { force = true })
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, name)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = filetype or 'markdown'
  vim.cmd('botright split')
  vim.api.nvim_win_set_buf(0, buf)
  return buf
end

local function status()
  local client = client_or_warn()
  if not client then
    return
  end
  ask(client, 'srag/status', function(s)
    local lines = {
      ('srag-lsp %s (client %d, %s)'):format(s.version or '?', client.id, table.concat(client.config.cmd, ' ')),
      ('ready: %s   backend: %s   model: %s   refine model: %s'):format(tostring(s.ready), s.backend or '-',
        s.model or '-', s.refine_model or '-'),
      ('index: %s   ghost text: %s'):format(s.index or '-', suggestion.enabled and 'on' or 'off'),
    }
    if s.server then
      table.insert(lines, 3, 'model server: ' .. s.server)
    end
    local shared = s.shared_index
    if type(shared) == 'table' then
      table.insert(lines, ('shared index: %s   version: %s   files indexed here: %s%s'):format(shared.uri or '-',
        tostring(shared.version or '-'), tostring(shared.overlay_files or '-'),
        shared.reachable == false and '   (not reachable: retrieving from the local copy and your changes)' or ''))
    end
    if s.backend_error then
      table.insert(lines, 'backend error: ' .. s.backend_error)
    end
    local last = suggestion.last
    if last then
      table.insert(lines, ('last suggestion: %s (%s, %d chars)'):format(last.id, last.stage, #last.text))
    end
    local p = require('srag.progress').statusline()
    if p ~= '' then
      table.insert(lines, p)
    end
    vim.notify(table.concat(lines, '\n'), vim.log.levels.INFO)
  end)
end

local function context()
  local client = client_or_warn()
  if not client then
    return
  end
  ask(client, 'srag/context', function(c)
    if not c.id or c.id == vim.NIL then
      vim.notify('srag: no suggestion yet', vim.log.levels.INFO)
      return
    end
    local lines = { ('# suggestion %s (%s)'):format(c.id, c.stage or '?'), '', (c.uri or ''), '', '```' }
    vim.list_extend(lines, vim.split(c.text or '', '\n', { plain = true }))
    vim.list_extend(lines, { '```', '', ('## %d chunks of context'):format(#(c.chunks or {})) })
    for _, chunk in ipairs(c.chunks or {}) do
      vim.list_extend(lines, {
        '',
        ('### %s:%s-%s %s (%s, score %.3f)'):format(chunk.path, chunk.start_line, chunk.end_line,
          chunk.symbol or '', chunk.source or '', tonumber(chunk.score) or 0),
        '```',
      })
      vim.list_extend(lines, vim.split(chunk.text or '', '\n', { plain = true }))
      table.insert(lines, '```')
    end
    M.scratch('srag://context', lines)
  end)
end

local function acceptance_lines(a)
  local function row(label, c)
    local rate = (c.acceptance_rate == nil or c.acceptance_rate == vim.NIL) and '-'
      or ('%.2f'):format(c.acceptance_rate)
    return ('%-28s %6d %9d %8d %10d %6s %7d'):format(label, c.shown, c.accepted, c.partially_accepted,
      c.dismissed, rate, c.accepted_chars)
  end
  local lines = { ('%-28s %6s %9s %8s %10s %6s %7s'):format('acceptance', 'shown', 'accepted', 'partial',
    'dismissed', 'rate', 'chars'), row('all', a) }
  for stage, c in vim.spairs(a.by_stage or {}) do
    table.insert(lines, row('stage ' .. stage, c))
  end
  for model, c in vim.spairs(a.by_model or {}) do
    table.insert(lines, row('model ' .. model, c))
  end
  return lines
end

local function stats()
  local client = client_or_warn()
  if not client then
    return
  end
  ask(client, 'srag/stats', function(s)
    local lines = { ('requests: %s'):format(s.requests or 0), '', ('%-28s %6s %10s %10s'):format('figure', 'n',
      'p50', 'p95') }
    for key, v in vim.spairs(s) do
      if type(v) == 'table' and v.p50 then
        table.insert(lines, ('%-28s %6d %10s %10s'):format(key, v.n, v.p50, v.p95))
      end
    end
    table.insert(lines, '')
    if type(s.acceptance) == 'table' then
      vim.list_extend(lines, acceptance_lines(s.acceptance))
    end
    M.scratch('srag://stats', lines, 'text')
  end)
end

local function toggle()
  suggestion.enabled = not suggestion.enabled
  if not suggestion.enabled then
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      suggestion.cancel(buf)
      suggestion.hide(buf, 'toggle')
    end
  end
  vim.notify('srag: ghost text ' .. (suggestion.enabled and 'on' or 'off'), vim.log.levels.INFO)
end

function M.setup()
  vim.api.nvim_create_user_command('SragStatus', status, { desc = 'srag: server, model and index state' })
  vim.api.nvim_create_user_command('SragContext', context,
    { desc = 'srag: the context chunks behind the last suggestion' })
  vim.api.nvim_create_user_command('SragToggle', toggle, { desc = 'srag: ghost text on/off' })
  vim.api.nvim_create_user_command('SragStats', stats, { desc = 'srag: latency figures and acceptance' })
  vim.api.nvim_create_user_command('SragLog', function()
    vim.cmd.tabedit(vim.fn.fnameescape(vim.lsp.get_log_path()))
  end, { desc = "srag: Neovim's LSP log (the daemon's stderr is there)" })
end

return M
