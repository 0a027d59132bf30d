//! The `mable-pipeline` binary: a thin shell over the library.

// Most of a pipeline's cost is allocation; mimalloc is measurably faster here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // exit() rather than return: after a failure, timely's other workers may
    // still be spinning, and only ending the process stops them.
    std::process::exit(mable_pipeline::cli::main());
}
