#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace hills::tools {

Progress::Progress(std::string label, std::uint64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(::isatty(2) == 1),
      start_(std::chrono::steady_clock::now()),
      lastDraw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::maybeDraw() {
  auto now = std::chrono::steady_clock::now();
  if (now - lastDraw_ < std::chrono::milliseconds(100)) return;
  lastDraw_ = now;
  draw();
}

void Progress::draw() {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0;
  char line[160];
  int n = std::snprintf(line, sizeof(line), "\r%s ", label_.c_str());
  if (total_ > 0) {
    constexpr int kWidth = 30;
    double part = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    int filled = static_cast<int>(part * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(kWidth - filled), '.');
    double left = rate > 0 ? static_cast<double>(total_ - std::min(done_, total_)) / rate : 0;
    n += std::snprintf(line + n, sizeof(line) - static_cast<std::size_t>(n),
                       "[%s] %3.0f%% %llu/%llu %s, %.0f/s, %d:%02d left ", bar.c_str(),
                       part * 100, static_cast<unsigned long long>(done_),
                       static_cast<unsigned long long>(total_), unit_.c_str(), rate,
                       static_cast<int>(left) / 60, static_cast<int>(left) % 60);
  } else {
    n += std::snprintf(line + n, sizeof(line) - static_cast<std::size_t>(n), "%llu %s, %.0f/s ",
                       static_cast<unsigned long long>(done_), unit_.c_str(), rate);
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw();
  std::fputs("\n", stderr);
}

}  // namespace hills::tools
