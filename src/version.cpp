#include "sam3rt/version.h"

namespace sam3rt {

const char* version() noexcept { return SAM3RT_VERSION; }

}  // namespace sam3rt
