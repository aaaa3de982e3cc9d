// The human-readable summary `iovsim run` prints, and the `iovsim params` listing.
#pragma once

#include <ostream>

#include <iovsim/core/params.hpp>
#include <iovsim/platforms/runner.hpp>

namespace iovsim::cli {

void print_summary(std::ostream& os, const platforms::RunResult& result);
void print_params(std::ostream& os, const core::Config& config);
// The parameter reference as Markdown (docs/parameters.md is generated with it).
void print_params_markdown(std::ostream& os, const core::Config& config);

}  // namespace iovsim::cli
