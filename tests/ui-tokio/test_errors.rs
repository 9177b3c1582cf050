#[pollwatch::test(start_paused = "yes")]
async fn a() {}

#[pollwatch::test]
fn not_async() {}

#[pollwatch::test]
async fn takes_args(x: u32) {}

#[pollwatch::main(start_paused = true)]
async fn main_paused() {}

fn main() {}
