use pollwatch::async_timed;

#[async_timed(ret(Json))]
async fn f() -> u8 { 1 }

#[async_timed(err(Debug, Display))]
async fn g() -> Result<u8, String> { Ok(1) }

#[async_timed(skip(a, 1), level = "debug")]
async fn h(a: u8) -> u8 { a }

fn main() {}

#[async_timed(name = "", target = " ")]
async fn empty_names() {}
