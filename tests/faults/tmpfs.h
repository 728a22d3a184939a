// A small tmpfs mounted for a test, as a disk that fills up: unmounted
// (lazily, should a process still hold a file) when the object goes away.
#pragma once

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace hills::test {

class Tmpfs {
 public:
  // Mounts a tmpfs of `size` ("8m") on `path`, created when absent. Whether
  // it worked (mounting needs CAP_SYS_ADMIN) is mounted().
  Tmpfs(std::string path, const std::string& size) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& path() const { return path_; }

  // Gives the disk another size, keeping what it holds; false on failure.
  bool resize(const std::string& size) {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }

  // Bytes still free on it.
  std::uint64_t freeBytes() const {
    struct statvfs s {};
    if (::statvfs(path_.c_str(), &s) != 0) return 0;
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

}  // namespace hills::test
