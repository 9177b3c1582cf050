#[pollwatch::main(flavor = "single")]
async fn a() {}

#[pollwatch::main(flavor = "current_thread", worker_threads = 2)]
async fn b() {}

#[pollwatch::main(workers = 2, slow = "fast")]
async fn c() {}

#[pollwatch::main]
fn d() {}

#[pollwatch::main(worker_threads = 0)]
async fn e() {}

fn main() {}
