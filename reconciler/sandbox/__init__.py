"""A local emulator of the BigCommerce Customer Segmentation API, for users and tests.

`SandboxStore` holds the data, `create_app` serves it with the API's rules (pagination,
50 profiles per POST, 10 requests in flight, the rate quota and its headers, 409/422,
and the real API's trap: a DELETE without `id:in` empties the segment), and
`SandboxServer` runs it on loopback in a background thread."""
