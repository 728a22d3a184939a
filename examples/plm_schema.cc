// Anchors the generated PLM schema code in the hills-plm library.
#include "plm.hills.h"
