//! The `mable-pipeline` binary: a thin shell over the library.

// Most of a pipeline's cost is allocation; mimalloc is measurably faster here.
// The wrapper counts allocations only while `mable-pipeline bench` measures
// them; otherwise it costs one relaxed load per allocation (see
// `mable_pipeline::dataflows::bench::alloc`).
#[global_allocator]
static GLOBAL: mable_pipeline::dataflows::bench::CountingAlloc<mimalloc::MiMalloc> =
    mable_pipeline::dataflows::bench::CountingAlloc::new(mimalloc::MiMalloc);

fn main() {
    // exit() rather than return: after a failure, timely's other workers may
    // still be spinning, and only ending the process stops them.
    std::process::exit(mable_pipeline::cli::main_with(
        mable_pipeline::dataflows::ALL,
        &[&mable_pipeline::dataflows::bench::COMMAND],
    ));
}
