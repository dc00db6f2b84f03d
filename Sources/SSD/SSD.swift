// The SSD module. See ../shared/DESIGN.md for its place in the data flow.
