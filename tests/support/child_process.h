// Child processes of a test: started with fork and exec, stopped with a
// signal and reaped.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

namespace hills::test {

// Starts `program` with `args` (argv[0] excluded). Its standard output goes
// to `stdoutFd` (-1: to `logPath` too), its standard error is appended to
// `logPath`; it inherits no other descriptor. `limits` are set in the child
// before it runs the program.
// Returns the pid; a program that cannot be run exits with 127.
// Limits a child process starts with; 0 keeps what the test has.
struct ProcessLimits {
  rlim_t nofileSoft = 0;  // RLIMIT_NOFILE
  rlim_t nofileHard = 0;
};

inline pid_t spawnProcess(const std::string& program, const std::vector<std::string>& args,
                          const std::string& logPath, int stdoutFd = -1,
                          ProcessLimits limits = {}) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log >= 0) ::dup2(log, 2);
  ::dup2(stdoutFd >= 0 ? stdoutFd : log, 1);
  ::close_range(3, ~0U, 0);  // the test's sockets and pipes stay the test's
  if (limits.nofileSoft != 0 || limits.nofileHard != 0) {
    rlimit nofile{limits.nofileSoft, limits.nofileHard};
    if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) ::_exit(126);
  }
  ::execv(program.c_str(), argv.data());
  ::_exit(127);
}

// Sends `signal` to `pid` and waits for it (at most 10 s, then SIGKILL).
// Returns its exit status as waitpid gives it.
inline int stopProcess(pid_t pid, int signal) {
  ::kill(pid, signal);
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    ::usleep(10000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return status;
}

// Whether `pid` (a child of this process) is still running; an exited
// child is left for stopProcess to reap.
inline bool running(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

}  // namespace hills::test
