-- End-to-end test of the Neovim plugin against the real srag-lsp daemon, run by tests/editors/test_nvim.py:
--   nvim --headless -u NONE -i NONE -n -c 'luafile tests/editors/nvim_ghost_text.lua'
-- It types in insert mode as a person would (nvim_input), waits for the daemon's streamed suggestion to be
-- drawn as extmarks, accepts it with <Tab>, checks the buffer, then checks that a keystroke while a suggestion
-- streams drops it. Prints "N passed, N failed" and writes the checks and a transcript to $SRAG_NVIM_RESULT.
-- Stages are asserted against what the daemon sent, never the model's words.

local plugin = assert(os.getenv('SRAG_NVIM_PLUGIN'), 'SRAG_NVIM_PLUGIN')
local file = assert(os.getenv('SRAG_NVIM_FILE'), 'SRAG_NVIM_FILE')
local result_path = assert(os.getenv('SRAG_NVIM_RESULT'), 'SRAG_NVIM_RESULT')
local server = assert(os.getenv('SRAG_NVIM_SERVER'), 'SRAG_NVIM_SERVER')
local log_file = os.getenv('SRAG_NVIM_SERVER_LOG') or '/dev/null'
local wait_ms = tonumber(os.getenv('SRAG_NVIM_WAIT_MS') or '') or 300000

vim.opt.runtimepath:append(plugin)
vim.o.autoindent = true

local results = { passed = 0, failed = 0, checks = {}, transcript = {}, received = {} }
local t0 = vim.uv.now()

local function note(fmt, ...)
  local line = ('%7.1f s  ' .. fmt):format((vim.uv.now() - t0) / 1000, ...)
  table.insert(results.transcript, line)
  io.stderr:write(line .. '\n')
end

local function check(name, ok, detail)
  ok = ok and true or false
  results[ok and 'passed' or 'failed'] = results[ok and 'passed' or 'failed'] + 1
  table.insert(results.checks, { name = name, ok = ok, detail = detail and vim.inspect(detail) or nil })
  note('%s %s%s', ok and 'PASS' or 'FAIL', name, (not ok and detail) and ('  ' .. vim.inspect(detail)) or '')
end

local finished = false
local function finish(err)
  if finished then
    return
  end
  finished = true
  if err then
    results.failed = results.failed + 1
    results.error = tostring(err)
    note('ERROR %s', tostring(err))
  end
  local fh = assert(io.open(result_path, 'w'))
  fh:write(vim.json.encode(results))
  fh:close()
  io.stdout:write(('%d passed, %d failed\n'):format(results.passed, results.failed))
  vim.schedule(function()
    vim.cmd('qa!')
  end)
end

-- Record every srag/suggestion the daemon sends (before setup() hands the handler to vim.lsp.config).
local suggestion = require('srag.suggestion')
local handle = suggestion.on_notification
suggestion.on_notification = function(err, r, ctx)
  table.insert(results.received, { id = r.id, stage = r.stage, version = r.version, final = r.final,
    line = r.position.line, character = r.position.character, chars = #r.text })
  return handle(err, r, ctx)
end

local ghost = require('srag.ghost')
local srag = require('srag')
local notified = {}
vim.notify = function(msg, level)
  table.insert(notified, msg)
  note('vim.notify(%q, %s)', msg, tostring(level))
end

-- sleep and wait_until: the helpers benchmarks/editor_driver.lua uses too.
local here = vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2))
local waiting = dofile(here .. '/../../benchmarks/nvim_wait.lua').new(finish)
local sleep = waiting.sleep

local function wait(cond, what, ms)
  local v = waiting.wait_until(cond, ms or wait_ms)
  if not v then
    error('timed out waiting for ' .. what, 0)
  end
  return v
end

local function ask(client, method, buf)
  local done, res, e = false, nil, nil
  client:request(method, vim.empty_dict(), function(err, r)
    done, res, e = true, r, err
  end, buf)
  wait(function()
    return done
  end, method, 60000)
  assert(not e, method .. ': ' .. vim.inspect(e))
  return res
end

local function stages(list, id)
  local out = {}
  for _, r in ipairs(list) do
    if r.id == id and out[#out] ~= r.stage then
      table.insert(out, r.stage)
    end
  end
  return out
end

local function received_final(id)
  for _, r in ipairs(results.received) do
    if r.id == id and r.final then
      return true
    end
  end
  return false
end

local function drawn_matches(buf, s)
  local d = ghost.drawn(buf)
  if not d then
    return false, 'no extmark'
  end
  local lines = vim.split(s.text, '\n', { plain = true })
  local want_rest = {}
  for i = 2, #lines do
    table.insert(want_rest, (lines[i]:gsub('\t', string.rep(' ', vim.bo[buf].tabstop))))
  end
  local ok = d.row == s.row and d.col == s.col and d.first == lines[1]:gsub('\t', string.rep(' ', vim.bo[buf].tabstop))
    and vim.deep_equal(d.rest, want_rest)
  return ok, { drawn = d, shown = s.text }
end

local function run()
  assert(srag.setup({
    cmd = { server, '--stdio', '-v', '--log-file', log_file },
    keys = { accept = '<Tab>', accept_word = '<M-w>', accept_line = '<M-l>', dismiss = '<C-e>' },
  }), 'setup failed')

  vim.cmd.edit(vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].filetype = 'python' -- -u NONE: no filetype detection
  local client = wait(function()
    local c = suggestion.client(buf)
    return c and c.initialized and c
  end, 'the srag client to attach')
  note('client attached: %s', table.concat(client.config.cmd, ' '))

  local status = wait(function()
    local s = ask(client, 'srag/status', buf)
    return s.ready and s
  end, 'the daemon to be ready')
  note('daemon ready: backend %s, model %s', tostring(status.backend), tostring(status.model))
  -- Let the index of this small workspace finish so that retrieval (and so a refinement) can happen.
  local index = wait(function()
    local s = ask(client, 'srag/indexStatus', buf)
    return (s.state == 'ready' or s.state == 'off' or s.state == 'error') and s
  end, 'the index to be built')
  note('index: %s', tostring(index.state))
  local progress = require('srag.progress')
  wait(function()
    return progress.current and progress.current.done
  end, 'the end of the indexing progress', 30000)
  local told = false
  for _, m in ipairs(notified) do
    told = told or (m:match('^srag') and m:match('%(done%)')) ~= nil
  end
  check('indexing progress came through LspProgress and vim.notify', told, notified)

  -- 1. Type at the end of `    discounted = ` (line 10): ghost text appears and follows the daemon's stages.
  local draws = {}
  vim.api.nvim_create_autocmd('User', {
    pattern = 'SragSuggestion',
    callback = function(ev)
      local ok, detail = drawn_matches(buf, suggestion.current(buf))
      table.insert(draws, { id = ev.data.id, stage = ev.data.stage, final = ev.data.final, matches = ok,
        detail = detail })
      note('drawn %s %-7s final=%s %q', ev.data.id, ev.data.stage, tostring(ev.data.final),
        (ev.data.text:gsub('\n', '\\n')))
    end,
  })
  vim.api.nvim_win_set_cursor(0, { 10, 0 })
  local before = vim.api.nvim_get_current_line()
  note('keys: A (append at the end of %q)', before)
  vim.api.nvim_input('A')
  local first = wait(function()
    return suggestion.current(buf)
  end, 'ghost text to appear')
  check('ghost text appears at the cursor after typing', first.row == 9 and first.col == #before,
    { row = first.row, col = first.col })
  wait(function()
    local now = suggestion.current(buf) or {}
    return received_final(first.id) or now.final or now.id ~= first.id
  end, 'the suggestion to finish streaming')
  local shown = suggestion.current(buf)
  check('the daemon finished the suggestion it started', shown and shown.id == first.id,
    shown and shown.id or 'nothing shown')
  local all_match = #draws > 0
  for _, d in ipairs(draws) do
    all_match = all_match and d.matches
  end
  check('extmarks show the text of each update (virt_text, then virt_lines)', all_match, draws)
  local sent = stages(results.received, first.id)
  local seen = stages(draws, first.id)
  results.stages_sent, results.stages_drawn = sent, seen
  check('each stage the daemon sent was drawn, in order', #sent > 0 and vim.deep_equal(sent, seen),
    { sent = sent, drawn = seen })
  -- The first request at a place drafts (nothing is cached yet); whether it then refines is the policy's call
  -- (retrieval brings apply_discount and add_tax; a draft that already uses them rightly needs no refinement).
  -- What is drawn last must be what the daemon decided: its trace (srag/context) says whether it refined.
  local context = ask(client, 'srag/context', buf)
  for _ = 1, 100 do -- the run records its outcome just after its final notification
    if context.id == first.id then
      break
    end
    vim.wait(50)
    context = ask(client, 'srag/context', buf)
  end
  local refined = context.id == first.id and context.trace and context.trace.flags
    and context.trace.flags.refined == true
  local decided = context.id == first.id and (refined and 'refined' or 'draft') or nil
  results.final_stage_decided = decided
  check('the first stage is the draft and the last drawn is the stage the daemon decided',
    sent[1] == 'draft' and seen[1] == 'draft' and decided ~= nil and seen[#seen] == decided
      and sent[#sent] == decided,
    { sent = sent, drawn = seen, decided = decided, context_id = context.id })

  -- 2. Typing the ghost text's first character keeps the rest on screen (checked right after the key, before
  -- any answer to the new request could arrive).
  shown = assert(suggestion.current(buf), 'a suggestion to type through')
  local first_char = shown.text:sub(1, 1)
  if #shown.text > 1 and first_char:match('[%w_(]') then
    local kept, kept_drawn
    vim.api.nvim_create_autocmd('TextChangedI', {
      once = true,
      callback = function()
        kept = suggestion.current(buf) or false
        kept_drawn = kept and drawn_matches(buf, kept)
      end,
    })
    note('keys: %s (the first character of the ghost text)', first_char)
    vim.api.nvim_input(first_char)
    wait(function()
      return kept ~= nil
    end, 'the character to be typed', 20000)
    check('typing the first character of the suggestion keeps the rest drawn',
      kept and kept.id == shown.id and kept.text == shown.text:sub(2) and kept_drawn,
      kept and kept.text or 'nothing shown')
    before = before .. first_char
  end

  -- 3. <M-w> accepts the first word and keeps the rest on screen; <Tab> accepts what is shown.
  shown = wait(function()
    return suggestion.current(buf)
  end, 'a suggestion to accept', 60000)
  local word = shown.text:match('^[%w_]+')
  if word and #word < #shown.text then
    note('keys: <M-w> (accept the word %q)', word)
    local kept
    vim.api.nvim_create_autocmd('TextChangedI', { -- right after the key, before any answer could arrive
      once = true,
      callback = function()
        kept = suggestion.current(buf) or false
      end,
    })
    vim.api.nvim_input('<M-w>')
    wait(function()
      return kept ~= nil
    end, 'the word to be inserted', 20000)
    check('<M-w> inserted the first word of the suggestion',
      vim.api.nvim_buf_get_lines(buf, 9, 10, false)[1] == before .. word, vim.api.nvim_get_current_line())
    check('the rest of the suggestion stays drawn after the word',
      kept and kept.id == shown.id and kept.text == shown.text:sub(#word + 1),
      kept and kept.text or 'nothing shown')
    before = before .. word
  else
    note('the suggestion does not start with a word: <M-w> skipped')
  end
  shown = wait(function()
    return suggestion.current(buf)
  end, 'a suggestion to accept with <Tab>', 20000)
  local text = shown.text
  note('keys: <Tab> (accept %q)', (text:gsub('\n', '\\n')))
  vim.api.nvim_input('<Tab>')
  wait(function()
    local c = vim.api.nvim_win_get_cursor(0)
    return c[1] ~= shown.row + 1 or c[2] ~= shown.col
  end, 'the suggestion to be inserted', 20000)
  local want = vim.split(before .. text, '\n', { plain = true })
  local got = vim.api.nvim_buf_get_lines(buf, 9, 9 + #want, false)
  check('<Tab> inserted the shown suggestion after the text before the cursor', vim.deep_equal(got, want),
    { got = got, want = want })
  local cur = vim.api.nvim_win_get_cursor(0)
  check('the cursor is at the end of the inserted text, still in insert mode',
    cur[1] == 9 + #want and cur[2] == #want[#want] and vim.api.nvim_get_mode().mode == 'i',
    { cursor = cur, mode = vim.api.nvim_get_mode().mode })
  check('the accepted suggestion is no longer drawn', (suggestion.current(buf) or {}).id ~= shown.id)

  -- 4. A keystroke while a suggestion streams drops it; later notifications for the old version stay hidden.
  vim.api.nvim_input('<Esc>')
  wait(function()
    return vim.api.nvim_get_mode().mode == 'n'
  end, 'normal mode', 10000)
  check('leaving insert mode hides the ghost text', ghost.drawn(buf) == nil and suggestion.current(buf) == nil)
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_win_set_cursor(0, { last, 0 }) -- `    return total`
  local armed, stale = true, nil
  vim.api.nvim_create_autocmd('User', {
    pattern = 'SragSuggestion',
    callback = function(ev)
      if not armed or ev.data.text == '' then
        return
      end
      armed = false
      local key = ev.data.text:sub(1, 1) == 'Z' and 'Q' or 'Z'
      stale = { id = ev.data.id, stage = ev.data.stage, text = ev.data.text, final = ev.data.final, key = key,
        version = suggestion.version(buf), received_before = #results.received }
      note('keys: %s while %s %s is drawn (final=%s)', key, ev.data.id, ev.data.stage, tostring(ev.data.final))
      vim.api.nvim_input(key)
    end,
  })
  note('keys: O then "total = " on a new line above `return total`')
  vim.api.nvim_input('Ototal = ')
  wait(function()
    return stale ~= nil
  end, 'a suggestion on the new line')
  wait(function()
    return suggestion.version(buf) ~= stale.version
  end, 'the keystroke to reach the buffer', 20000)
  local now = suggestion.current(buf)
  check('a keystroke that does not match drops the shown text at once', now == nil or now.id ~= stale.id,
    now and { id = now.id, text = now.text } or nil)
  check('the keystroke came while the suggestion was still streaming', stale.final == false, stale)
  -- Give the daemon time to send what it still had for the old version; none of it may be drawn.
  sleep(3000)
  local redrawn = false
  local late = 0
  for i = stale.received_before + 1, #results.received do
    if results.received[i].id == stale.id then
      late = late + 1
    end
  end
  for _, e in ipairs(suggestion.events) do
    if e.kind == 'draw' and e.id == stale.id and e.version ~= stale.version then
      redrawn = true
    end
  end
  check('notifications for the old version are never drawn', not redrawn and (suggestion.current(buf) or {}).id
    ~= stale.id, { late_notifications = late })
  note('%d notifications for %s arrived after the keystroke and were ignored', late, stale.id)

  -- 5. <C-e> dismisses whatever is shown; the daemon counted shows, the accept and dismissals.
  local dismissable = wait(function()
    return suggestion.current(buf)
  end, 'a suggestion after the keystroke')
  note('keys: <C-e> (dismiss %s)', dismissable.id)
  vim.api.nvim_input('<C-e>')
  wait(function()
    return suggestion.current(buf) == nil
  end, '<C-e> to dismiss', 10000)
  check('<C-e> dismisses the ghost text', ghost.drawn(buf) == nil)
  vim.api.nvim_input('<Esc>')
  local stats = ask(client, 'srag/stats', buf)
  local a = stats.acceptance or {}
  results.acceptance = a
  check('srag/stats counts the shown, accepted and dismissed suggestions',
    (a.shown or 0) >= 2 and (a.accepted or 0) >= 1 and (a.dismissed or 0) >= 1
      and (a.accepted_chars or 0) >= #text and type(a.by_stage) == 'table' and type(a.by_model) == 'table', a)

  -- 6. In normal mode the cursor jumps and rests: the plugin says where (srag/cursor) and the daemon warms there.
  wait(function()
    return vim.api.nvim_get_mode().mode == 'n'
  end, 'normal mode', 10000)
  local rest = require('srag.rest')
  local sent = rest.sent
  local runs = (ask(client, 'srag/status', buf).warm_ups or {}).runs or 0
  note('keys: none; the cursor jumps to line 5 and rests (srag/cursor sent %d times so far)', sent)
  vim.api.nvim_win_set_cursor(0, { 5, 4 })
  wait(function()
    return rest.sent > sent
  end, 'srag/cursor after the cursor rested', 10000)
  local warmed = wait(function()
    local w = ask(client, 'srag/status', buf).warm_ups or {}
    return (w.runs or 0) > runs and w
  end, 'a warm-up where the cursor rests', 120000)
  check('a resting cursor in normal mode is sent as srag/cursor and the daemon warms there',
    rest.sent > sent and warmed.prompt_tokens > 0, warmed)
end

local co = coroutine.create(function()
  local ok, err = xpcall(run, debug.traceback)
  finish(not ok and err or nil)
end)
local ok, err = coroutine.resume(co)
if not ok then
  finish(err)
end
