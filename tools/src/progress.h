// A progress bar with rate and time left, on stderr when it is a terminal;
// nothing otherwise (pipes, logs and tests stay quiet).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hills::tools {

class Progress {
 public:
  // `total` 0: unknown (no bar, no time left). `unit`: "records", "bytes".
  Progress(std::string label, std::uint64_t total, std::string unit = "records");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Cheap enough to call for every record: draws at most ten times a second.
  void update(std::uint64_t done) {
    done_ = done;
    if (enabled_ && (done & 1023) == 0) maybeDraw();
  }
  void add(std::uint64_t n = 1) { update(done_ + n); }
  // Draws the final state and ends the line.
  void finish();

  // Whether progress is shown (stderr is a terminal).
  bool enabled() const { return enabled_; }

 private:
  void maybeDraw();
  void draw();

  std::string label_, unit_;
  std::uint64_t total_ = 0, done_ = 0;
  bool enabled_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

}  // namespace hills::tools
