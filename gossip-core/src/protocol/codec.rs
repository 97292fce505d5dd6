//! Frame codec (in progress).
