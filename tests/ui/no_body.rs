use pollwatch::async_timed;

trait T {
    #[async_timed]
    async fn m(&self);
}

fn main() {}
