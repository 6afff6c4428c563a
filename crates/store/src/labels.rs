//! Labels and actors storage (being built).
