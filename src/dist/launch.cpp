// The local launcher of dist/launch.h: posix_spawn, a supervision loop, signal forwarding.
#include <deepdyn/dist/launch.h>

#include <arpa/inet.h>
#include <c10/util/Exception.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <climits>
#include <cstring>
#include <thread>

extern char** environ;

namespace deepdyn::dist {
namespace {

volatile sig_atomic_t g_forward_signal = 0;
void remember_signal(int signal) { g_forward_signal = signal; }

// Installs the forwarding handler for SIGINT and SIGTERM and restores the old ones on scope exit.
class ForwardSignals {
 public:
  ForwardSignals() {
    g_forward_signal = 0;
    struct sigaction action {};
    action.sa_handler = remember_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~ForwardSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

constexpr const char* kLauncherVariable = "DEEPDYN_LAUNCHER_PID";

// The parent's environment with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and the
// launcher's pid replaced.
std::vector<std::string> rank_environment(int64_t rank, int64_t processes, int port) {
  const std::vector<std::pair<std::string, std::string>> set = {{"RANK", std::to_string(rank)},
                                                               {"LOCAL_RANK", std::to_string(rank)},
                                                               {"WORLD_SIZE", std::to_string(processes)},
                                                               {"MASTER_ADDR", "127.0.0.1"},
                                                               {"MASTER_PORT", std::to_string(port)},
                                                               {kLauncherVariable, std::to_string(getpid())}};
  std::vector<std::string> out;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    bool replaced = false;
    for (const auto& [name, value] : set) replaced = replaced || text.rfind(name + "=", 0) == 0;
    if (!replaced) out.push_back(text);
  }
  for (const auto& [name, value] : set) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string describe(int64_t rank, int status) {
  if (WIFSIGNALED(status)) return "rank " + std::to_string(rank) + " was killed by signal " + std::to_string(WTERMSIG(status));
  return "rank " + std::to_string(rank) + " exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  TORCH_CHECK(ok, "cannot find a free port on 127.0.0.1: ", std::strerror(errno));
  return ntohs(address.sin_port);
}

std::string self_executable() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  TORCH_CHECK(n > 0, "cannot find this program's executable through /proc/self/exe: ", std::strerror(errno));
  return std::string(path, size_t(n));
}

LaunchResult launch_local(const std::vector<std::string>& command, int64_t processes, std::chrono::milliseconds grace) {
  TORCH_CHECK(!command.empty(), "launch_local needs a command");
  TORCH_CHECK(processes >= 1, "the number of processes must be >= 1, got ", processes);
  ForwardSignals forward;
  const int port = free_port();
  std::vector<pid_t> pids;
  std::vector<bool> running;
  auto signal_all = [&](int signal) {
    for (size_t r = 0; r < pids.size(); ++r)
      if (running[r]) kill(pids[r], signal);
  };
  for (int64_t rank = 0; rank < processes; ++rank) {
    auto arguments = command;
    auto environment = rank_environment(rank, processes, port);
    auto argv = pointers(arguments), envp = pointers(environment);
    pid_t pid = 0;
    const int error = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data());
    if (error != 0) {
      signal_all(SIGKILL);
      for (pid_t p : pids) waitpid(p, nullptr, 0);
      TORCH_CHECK(false, "cannot start rank ", rank, " ('", command[0], "'): ", std::strerror(error));
    }
    pids.push_back(pid);
    running.push_back(true);
  }

  LaunchResult result;
  int forwarded = 0;
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  for (int64_t left = processes; left > 0;) {
    if (g_forward_signal != 0 && forwarded != g_forward_signal) {
      forwarded = g_forward_signal;
      signal_all(SIGTERM);
    }
    if (kill_at && std::chrono::steady_clock::now() >= *kill_at) signal_all(SIGKILL);
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    size_t rank = 0;
    while (rank < pids.size() && pids[rank] != pid) ++rank;
    if (rank == pids.size()) continue;  // not one of ours
    running[rank] = false;
    --left;
    const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (failed && !result.failed_rank) {
      result = {exit_code(status), int64_t(rank), describe(int64_t(rank), status)};
      signal_all(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + grace;
    }
  }
  return result;
}

void follow_launcher() {
  const char* launcher = std::getenv(kLauncherVariable);
  if (launcher == nullptr) return;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The launcher may have died before prctl: then this process was already handed to another parent.
  if (getppid() != pid_t(std::atoll(launcher))) raise(SIGTERM);
}

}  // namespace deepdyn::dist
