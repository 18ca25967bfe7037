#pragma once
// Peak resident memory of one measurement, isolated in a forked child so that allocations of one
// run cannot hide in another (the allocator keeps freed pages). The child resets the kernel's
// peak-RSS mark (/proc/self/clear_refs) and reports VmHWM - VmRSS at the start.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <type_traits>

namespace deepdyn::bench {

inline long status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

/// Starts measuring at construction; megabytes() is the peak growth of resident memory since.
class PeakMemory {
 public:
  PeakMemory() {
    std::ofstream("/proc/self/clear_refs") << "5";  // reset the peak-RSS mark to the current RSS
    baseline_kb_ = status_kb("VmRSS");
  }
  double megabytes() const { return (status_kb("VmHWM") - baseline_kb_) / 1024.0; }

 private:
  long baseline_kb_;
};

/// Runs `measure` in a forked child and returns its (trivially copyable) result through a pipe.
template <class Result>
Result in_child(const std::function<Result()>& measure) {
  static_assert(std::is_trivially_copyable_v<Result>, "results cross a pipe as bytes");
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const Result result = measure();
    if (write(fds[1], &result, sizeof result) != static_cast<ssize_t>(sizeof result)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Result result{};
  const bool ok = read(fds[0], &result, sizeof result) == static_cast<ssize_t>(sizeof result);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!ok) std::fprintf(stderr, "measurement child failed\n"), std::exit(1);
  return result;
}

}  // namespace deepdyn::bench
