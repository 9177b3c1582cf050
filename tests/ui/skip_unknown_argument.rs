use pollwatch::async_timed;

#[async_timed(skip(token, secret))]
async fn fetch(url: &str, token: String) -> usize { url.len() + token.len() }

#[async_timed(skip(x))]
async fn no_args() {}

fn main() {}
