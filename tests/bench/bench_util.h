// Timing and reporting shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace hills::bench {

using Clock = std::chrono::steady_clock;

// Runs fn `rounds` times; returns the median nanoseconds per operation, fn
// doing `ops` operations per call.
template <class F>
double medianNsPerOp(int rounds, std::size_t ops, F&& fn) {
  std::vector<double> samples;
  for (int r = 0; r < rounds; ++r) {
    auto start = Clock::now();
    fn(r);
    auto ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    samples.push_back(ns / static_cast<double>(ops));
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// Runs the functions in turns, `rounds` times each, so that none of them
// always runs first (on a cold kernel) or after the same neighbour; returns
// each one's median nanoseconds per operation.
inline std::vector<double> interleavedMedians(int rounds, std::size_t ops,
                                              const std::vector<std::function<void()>>& fns) {
  std::vector<std::vector<double>> samples(fns.size());
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < fns.size(); ++i) {
      auto start = Clock::now();
      fns[i]();
      samples[i].push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                           static_cast<double>(ops));
    }
  }
  std::vector<double> out;
  for (auto& s : samples) {
    std::sort(s.begin(), s.end());
    out.push_back(s[s.size() / 2]);
  }
  return out;
}

struct Row {
  std::string group;
  std::string name;
  double nsPerOp;
};

class Report {
 public:
  void add(const std::string& group, const std::string& name, double nsPerOp) {
    rows_.push_back({group, name, nsPerOp});
    std::printf("  %-10s %-44s %12.1f ns/op %14.0f op/s\n", group.c_str(), name.c_str(), nsPerOp,
                1e9 / nsPerOp);
    std::fflush(stdout);
  }
  double ns(const std::string& name) const {
    for (const auto& r : rows_) {
      if (r.name == name) return r.nsPerOp;
    }
    return 0;
  }
  // A ratio line: `RATIO <name> <value>`, with the target it is held to.
  void ratio(const std::string& name, double value, const std::string& target) {
    ratios_.push_back("RATIO " + name + " " + std::to_string(value) + "    # target " + target);
  }
  void printTable() const {
    std::printf("\n| group | measurement | ns/op | op/s |\n|---|---|---:|---:|\n");
    for (const auto& r : rows_) {
      std::printf("| %s | %s | %.1f | %.0f |\n", r.group.c_str(), r.name.c_str(), r.nsPerOp,
                  1e9 / r.nsPerOp);
    }
    std::printf("\n");
    for (const auto& line : ratios_) std::printf("%s\n", line.c_str());
  }

 private:
  std::vector<Row> rows_;
  std::vector<std::string> ratios_;
};

}  // namespace hills::bench
