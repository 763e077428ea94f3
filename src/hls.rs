//! The HLS vocabulary every other part shares (in progress).
