-- The typist of benchmarks/bench_editor.py: runs inside a headless Neovim 0.11, loads one plugin (srag's
-- editors/nvim on its defaults, srag's plugin as a plain client, or llama.vim with only its endpoint set), and types
-- real lines as a person would, with nvim_feedkeys in insert mode on a timer. It reads what is on screen from the
-- plugin's own extmarks and writes every key's record to the JSON file the plan names, then quits.
--
--   nvim --headless -u NONE -i NONE -n -c 'luafile benchmarks/editor_driver.lua'   (plan: $EDITOR_BENCH_PLAN)
--
-- For each line: the cursor arrives (the line is cleared to its indentation, insert mode at its end), the user rests
-- `rest_ms`, types `typed` characters at `cadence_ms`, waits `look_ms` after the last key and looks.
local plan_path = assert(os.getenv('EDITOR_BENCH_PLAN'), 'EDITOR_BENCH_PLAN is not set')
local plan_file = assert(io.open(plan_path, 'r'))
local plan = vim.json.decode(plan_file:read('*a'))
plan_file:close()

local POLL_MS = 10
local out = { column = plan.column, cases = {}, notes = {}, started = vim.uv.now() }

local function note(msg)
  table.insert(out.notes, ('%8.1f s %s'):format((vim.uv.now() - out.started) / 1000, msg))
  io.stderr:write(msg .. '\n')
end

local finished = false
local function finish(err)
  if finished then
    return
  end
  finished = true
  if err then
    out.error = tostring(err)
    note('ERROR ' .. tostring(err))
  end
  local fh = assert(io.open(plan.result, 'w'))
  fh:write(vim.json.encode(out))
  fh:close()
  vim.schedule(function()
    vim.cmd('qa!')
  end)
end

vim.notify = function(msg)
  note('notify: ' .. tostring(msg))
end

-- CPU seconds of this Neovim and everything below it (the daemon, its worker, curl), plus the pids the plan names
-- (llama-server), from /proc: utime + stime + cutime + cstime.
local function proc_stat(pid)
  local fh = io.open('/proc/' .. pid .. '/stat', 'r')
  if not fh then
    return nil
  end
  local text = fh:read('*a')
  fh:close()
  local rest = text:match('^.*%)%s(.*)$')
  if not rest then
    return nil
  end
  local f = vim.split(rest, ' ', { plain = true })
  -- after the command: state(1) ppid(2) ... utime(12) stime(13) cutime(14) cstime(15)
  return tonumber(f[2]), (tonumber(f[12]) + tonumber(f[13]) + tonumber(f[14]) + tonumber(f[15]))
end

local CLK_TCK = 100
local function cpu_seconds()
  local parent, ticks = {}, {}
  for _, path in ipairs(vim.fn.glob('/proc/[0-9]*/stat', false, true)) do
    local pid = tonumber(path:match('/proc/(%d+)/'))
    local ppid, t = proc_stat(pid)
    if ppid then
      parent[pid], ticks[pid] = ppid, t
    end
  end
  local roots = { [vim.fn.getpid()] = true }
  for _, pid in ipairs(plan.extra_pids or {}) do
    roots[pid] = true
  end
  local total = 0
  for pid, t in pairs(ticks) do
    local p, depth = pid, 0
    while p and depth < 64 do
      if roots[p] then
        total = total + t
        break
      end
      p, depth = parent[p], depth + 1
    end
  end
  return total / CLK_TCK
end

-- What a person sees: the plugin's ghost text at the cursor, read from its extmarks (namespace and highlight group).
local ghost_ns, ghost_hl
local function on_screen()
  if not ghost_ns then
    ghost_ns = vim.api.nvim_get_namespaces()[plan.ghost.namespace]
    if not ghost_ns then
      return '', {}
    end
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  row = row - 1
  local first, rest = '', {}
  local marks = vim.api.nvim_buf_get_extmarks(0, ghost_ns, { row, 0 }, { row, -1 }, { details = true })
  for _, m in ipairs(marks) do
    local d = m[4] or {}
    if m[3] == col then
      for _, chunk in ipairs(d.virt_text or {}) do
        if chunk[2] == ghost_hl then
          first = first .. chunk[1]
        end
      end
    end
    for _, line in ipairs(d.virt_lines or {}) do
      local text = ''
      for _, chunk in ipairs(line) do
        if chunk[2] == ghost_hl then
          text = text .. chunk[1]
        end
      end
      table.insert(rest, text)
    end
  end
  return first, rest
end

local function stage_of_shown()
  if plan.column ~= 'llama.vim' then
    local ok, s = pcall(function()
      return require('srag.suggestion').current(0)
    end)
    if ok and s then
      return s.from_daemon and s.stage or 'answer' -- an inlineCompletion answer the plugin drew (no stage)
    end
  end
  return ''
end

local waiting = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_wait.lua').new(finish)
local sleep, wait_until = waiting.sleep, waiting.wait_until

-- One watcher for the whole run: every POLL_MS it reads the screen and notes changes for the current line.
local current = nil -- {case = record, key = index of the last key fed, t0 = arrival}
local watcher = vim.uv.new_timer()
watcher:start(POLL_MS, POLL_MS, vim.schedule_wrap(function()
  if not current then
    return
  end
  local first = on_screen()
  local shown = first:match('%S') ~= nil
  local rec = current.case
  local now = vim.uv.now()
  if first ~= current.last_first then
    current.last_first = first
    table.insert(rec.screen, { now - current.t0, #first, stage_of_shown() })
  end
  -- a key counts as seen only once Neovim has applied it (the cursor moved past it): until then the ghost text
  -- on screen is the one from before the key
  local applied = vim.api.nvim_win_get_cursor(0)[2] == current.col0 + current.key
  if shown and applied then
    local k = current.key
    if k == 0 then
      rec.arrival_visible_ms = rec.arrival_visible_ms or (now - current.t0)
    else
      local key = rec.keys[k]
      if key.visible_ms == vim.NIL then
        key.visible_ms = now - key.t
      end
    end
  end
end))

local function feed(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'n', false)
end

local function buffer_for(path)
  if vim.api.nvim_buf_get_name(0) ~= path then
    vim.cmd('edit ' .. vim.fn.fnameescape(path))
    vim.bo.filetype = 'python'
  end
  return vim.api.nvim_get_current_buf()
end

local function type_line(i, case)
  local bufnr = buffer_for(case.file)
  local original = vim.api.nvim_buf_get_lines(bufnr, case.line, case.line + 1, false)[1]
  vim.api.nvim_buf_set_lines(bufnr, case.line, case.line + 1, false, { case.indent })
  vim.api.nvim_win_set_cursor(0, { case.line + 1, #case.indent })
  local rec = { case = i - 1, keys = {}, screen = {}, arrival_visible_ms = nil }
  local t0 = vim.uv.now()
  current = { case = rec, key = 0, t0 = t0, last_first = nil, col0 = #case.indent }
  feed('A') -- insert mode at the end of the indentation: the user has arrived
  sleep(plan.rest_ms)
  local typed = case.body:sub(1, case.typed)
  for n = 1, #typed do
    local char = typed:sub(n, n)
    local t = vim.uv.now()
    table.insert(rec.keys, { n = n, char = char, t = t, at_ms = t - t0, visible_ms = vim.NIL })
    current.key = n
    feed(char)
    sleep(plan.cadence_ms)
    -- just before the next key: what is on screen now, and is it the rest of the real line?
    local first = on_screen()
    local key = rec.keys[n]
    key.shown = first
    key.stage = stage_of_shown()
  end
  sleep(math.max(0, plan.look_ms - plan.cadence_ms))
  local first, rest = on_screen()
  rec.final = first
  rec.final_rest = rest
  rec.final_stage = stage_of_shown()
  rec.line_text = vim.api.nvim_buf_get_lines(bufnr, case.line, case.line + 1, false)[1]
  current = nil
  feed('<Esc>')
  sleep(50)
  vim.api.nvim_buf_set_lines(bufnr, case.line, case.line + 1, false, { original })
  table.insert(out.cases, rec)
end

local function setup_plugin()
  if plan.column == 'llama.vim' then
    vim.g.llama_config = { endpoint_fim = plan.llama_endpoint }
    vim.opt.runtimepath:append(plan.plugin)
    vim.cmd('runtime plugin/llama.vim')
    ghost_hl = 'llama_hl_fim_hint'
    return
  end
  vim.opt.runtimepath:append(plan.plugin)
  local opts = {}
  if next(plan.settings or {}) ~= nil then
    opts.settings = plan.settings -- a compared column: these settings instead of the defaults
  end
  if plan.column == 'srag-plain' then
    -- a plain LSP client: no streaming; only the inlineCompletion answers are drawn
    opts.lsp = { init_options = { streaming = false }, handlers = { ['srag/suggestion'] = function() end } }
  end
  assert(require('srag').setup(opts), 'srag setup failed')
  ghost_hl = require('srag.config').options.hl_group
end

local function wait_ready()
  if plan.column == 'llama.vim' then
    return true -- the benchmark waited for llama-server's /health before starting Neovim
  end
  local client
  if not wait_until(function()
    client = vim.lsp.get_clients({ bufnr = 0, name = 'srag' })[1]
    return client ~= nil and client.initialized
  end, plan.ready_timeout_ms) then
    error('srag-lsp did not attach')
  end
  return wait_until(function()
    local r = client:request_sync('srag/status', {}, 2000, 0)
    local st = r and r.result or {}
    if st.backend_error and st.backend_error ~= vim.NIL then
      error('backend failed: ' .. tostring(st.backend_error))
    end
    return st.ready == true
  end, plan.ready_timeout_ms)
end

local co = coroutine.create(function()
  setup_plugin()
  buffer_for(plan.cases[1].file)
  if not wait_ready() then
    error('the server was not ready in time')
  end
  note(plan.column .. ' ready')
  out.cpu_start = cpu_seconds()
  out.t_start = vim.uv.now()
  for i, case in ipairs(plan.cases) do
    type_line(i, case)
    note(('%s: line %d/%d done'):format(plan.column, i, #plan.cases))
  end
  out.cpu_end = cpu_seconds()
  out.t_end = vim.uv.now()
  finish()
end)
local ok, err = coroutine.resume(co)
if not ok then
  finish(debug.traceback(co, err))
end
