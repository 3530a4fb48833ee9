/* parquet: the Parquet encoder library (sans-IO, no Arrow).
 *
 *   pq_mem.h     memory budget and error values
 *   pq_schema.h  typed columns and their Parquet mapping
 *   pq_column.h  column builders and the batch
 *   pq_writer.h  the file writer, pulled a page at a time
 *
 * and the pieces under them: pq_buf.h (byte buffers), pq_thrift.h (compact
 * Thrift), pq_rle.h (RLE/bit-packing), pq_dict.h (dictionaries), pq_stats.h
 * (statistics). Nothing here includes src/ or makes a syscall. */
#ifndef PARQUET_H
#define PARQUET_H

#include "pq_column.h"
#include "pq_mem.h"
#include "pq_schema.h"
#include "pq_writer.h"

#endif
