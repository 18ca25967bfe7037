#pragma once
// Starts the processes of a data-parallel run on this machine, like torchrun --nproc-per-node N.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace deepdyn::dist {

struct LaunchResult {
  int status = 0;                      ///< 0, the failed rank's exit status, or 128 + its signal
  std::optional<int64_t> failed_rank;  ///< the first rank that failed
  std::string reason;                  ///< e.g. "rank 1 was killed by signal 9"
};

/// Runs `processes` copies of `command` (command[0] is the executable) with RANK, LOCAL_RANK,
/// WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT added to the environment, and waits for
/// them. When one fails the others get SIGTERM, and SIGKILL if they are still there after `grace`.
/// SIGINT and SIGTERM sent to the launcher are passed on to every process.
LaunchResult launch_local(const std::vector<std::string>& command, int64_t processes,
                          std::chrono::milliseconds grace = std::chrono::seconds(30));

/// In a process that launch_local started: SIGTERM arrives when the launcher dies (even by
/// SIGKILL), so no rank trains on as an orphan. Elsewhere it does nothing.
void follow_launcher();

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice).
int free_port();

/// This program's own executable (/proc/self/exe), for relaunching itself.
std::string self_executable();

}  // namespace deepdyn::dist
