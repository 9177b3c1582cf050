use pollwatch::async_timed;

#[async_timed(lvl = 1, level = "loud", slow = "soon", name = 5)]
async fn f() {}

fn main() {}
