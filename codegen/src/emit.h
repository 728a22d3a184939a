// Writes the record header of one schema file from its model.
#pragma once

#include <string>

#include "model.h"

namespace hills::codegen {

// The whole text of <schema>.hills.h.
std::string emitHeader(const File& file);

}  // namespace hills::codegen
