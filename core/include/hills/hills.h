// Everything an application needs to use hills.
#pragma once

#include "hills/database.h"
#include "hills/error.h"
#include "hills/field_reader.h"
#include "hills/generic.h"
#include "hills/index.h"
#include "hills/indexes.h"
#include "hills/key.h"
#include "hills/options.h"
#include "hills/record_traits.h"
#include "hills/ref.h"
#include "hills/schema.h"
#include "hills/table.h"
#include "hills/tree.h"
#include "hills/tree_type.h"
#include "hills/txn.h"
#include "hills/write_hook.h"
