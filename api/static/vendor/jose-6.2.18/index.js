import { compactDecrypt } from "./jwe/compact/decrypt.js";
import { flattenedDecrypt } from "./jwe/flattened/decrypt.js";
import { generalDecrypt } from "./jwe/general/decrypt.js";
import { GeneralEncrypt } from "./jwe/general/encrypt.js";
import { compactVerify } from "./jws/compact/verify.js";
import { flattenedVerify } from "./jws/flattened/verify.js";
import { generalVerify } from "./jws/general/verify.js";
import { jwtVerify } from "./jwt/verify.js";
import { jwtDecrypt } from "./jwt/decrypt.js";
import { CompactEncrypt } from "./jwe/compact/encrypt.js";
import { FlattenedEncrypt } from "./jwe/flattened/encrypt.js";
import { CompactSign } from "./jws/compact/sign.js";
import { FlattenedSign } from "./jws/flattened/sign.js";
import { GeneralSign } from "./jws/general/sign.js";
import { SignJWT } from "./jwt/sign.js";
import { EncryptJWT } from "./jwt/encrypt.js";
import { calculateJwkThumbprint, calculateJwkThumbprintUri } from "./jwk/thumbprint.js";
import { EmbeddedJWK } from "./jwk/embedded.js";
import { createLocalJWKSet } from "./jwks/local.js";
import { createRemoteJWKSet, jwksCache, customFetch } from "./jwks/remote.js";
import { UnsecuredJWT } from "./jwt/unsecured.js";
import { exportPKCS8, exportSPKI, exportJWK } from "./key/export.js";
import { importSPKI, importPKCS8, importX509, importJWK } from "./key/import.js";
import { decodeProtectedHeader } from "./util/decode_protected_header.js";
import { decodeJwt } from "./util/decode_jwt.js";
import * as errors from "./util/errors.js";
import { generateKeyPair } from "./key/generate_key_pair.js";
import { generateSecret } from "./key/generate_secret.js";
import * as base64url from "./util/base64url.js";
const cryptoRuntime = "WebCryptoAPI";
export {
  CompactEncrypt,
  CompactSign,
  EmbeddedJWK,
  EncryptJWT,
  FlattenedEncrypt,
  FlattenedSign,
  GeneralEncrypt,
  GeneralSign,
  SignJWT,
  UnsecuredJWT,
  base64url,
  calculateJwkThumbprint,
  calculateJwkThumbprintUri,
  compactDecrypt,
  compactVerify,
  createLocalJWKSet,
  createRemoteJWKSet,
  cryptoRuntime,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  flattenedDecrypt,
  flattenedVerify,
  generalDecrypt,
  generalVerify,
  generateKeyPair,
  generateSecret,
  importJWK,
  importPKCS8,
  importSPKI,
  importX509,
  jwksCache,
  jwtDecrypt,
  jwtVerify
};
