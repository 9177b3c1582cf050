use pollwatch::async_timed;

struct NoDisplay;

#[async_timed(fields(v = %NoDisplay))]
async fn f() {}

fn main() {}
