// Small HTTP helpers for the service tests: multipart bodies built by hand (so the tests check the
// wire format, not a client library) and a keep-alive request function on node:http.
import crypto from 'node:crypto';
import http from 'node:http';

/** A multipart/form-data body with the given files: { field: Buffer }. */
export function multipart(files) {
  const boundary = `----flwnet${crypto.randomBytes(8).toString('hex')}`;
  const chunks = [];
  for (const [field, data] of Object.entries(files)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${field}.bin"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n'));
    chunks.push(Buffer.from(data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** POST/GET over a real socket; resolves { status, headers, body: Buffer }. */
export function request(url, { method = 'GET', body, headers = {}, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...(body ? { 'content-length': body.length } : {}), ...headers }, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const json = (response) => JSON.parse(response.body.toString('utf8'));
