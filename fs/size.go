package fs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PageSize is the kernel's page size: the segment's size is a multiple of
// it, and a block of one or more pages is what migrates.
const PageSize = 4096

// ParseSize reads a segment size such as 4096, 64K, 64M, 1G or 1GiB (binary
// units), which must be a positive multiple of PageSize.
func ParseSize(s string) (int64, error) {
	num := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B")
	mult := int64(1)
	if n := len(num); n > 0 {
		if i := strings.IndexByte("KMGT", num[n-1]); i >= 0 {
			mult <<= 10 * (i + 1)
			num = num[:n-1]
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (examples: 64M, 1G, 1048576)", s)
	}
	size := v * mult
	if size%PageSize != 0 {
		return 0, fmt.Errorf("%s is not a multiple of the page size %d", s, PageSize)
	}
	return size, nil
}

// SegmentPages is the segment's size in pages from --size or --pages,
// whichever was given (isSize, isPages say which); size is --size's
// default otherwise.
func SegmentPages(size string, pages int, isSize, isPages bool) (int, error) {
	if isPages {
		if isSize {
			return 0, errors.New("give --size or --pages, not both")
		}
		if pages <= 0 {
			return 0, fmt.Errorf("--pages %d: need at least one page", pages)
		}
		return pages, nil
	}
	bytes, err := ParseSize(size)
	if err != nil {
		return 0, fmt.Errorf("--size: %w", err)
	}
	return int(bytes / PageSize), nil
}
