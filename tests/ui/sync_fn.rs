use pollwatch::async_timed;

#[async_timed]
fn not_async(x: u32) -> u32 { x }

fn main() {}
