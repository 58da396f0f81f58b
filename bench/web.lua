-- bench/web.py's wrk script: each request takes the next path of the list named after `--` (one per line), every
-- connection's thread starting at its own random place, so a run asks for many different searches and pages.
local paths = {}
local next_one = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  next_one = math.random(#paths)
end

function request()
  next_one = next_one % #paths + 1
  return wrk.format("GET", paths[next_one])
end
