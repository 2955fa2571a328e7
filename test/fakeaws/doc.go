// Package fakeaws is a fake of the AWS endpoints aws-secrets-injector talks to, served over HTTP on
// loopback so the real AWS SDK for Go v2 (its serializers, deserializers, signer, retryer and
// credential providers) runs against it unchanged.
//
// # What it fakes
//
// One listener serves all of these, told apart by request shape:
//
//   - Secrets Manager (awsJson1.1, X-Amz-Target secretsmanager.*): GetSecretValue,
//     BatchGetSecretValue (SecretIdList of at most 20, per-id Errors; or the "name" filter),
//     DescribeSecret, PutSecretValue (new version; AWSCURRENT moves to it, AWSPREVIOUS to the old
//     one), CreateSecret. Secrets by name, full ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)
//     or partial ARN; VersionId and VersionStage selectors; SecretString and SecretBinary.
//   - SSM (awsJson1.1, AmazonSSM.*): GetParameter, GetParameters (at most 10 names; "name:3" version
//     and "name:label" selectors; InvalidParameters for missing ones; WithDecryption; String,
//     StringList and SecureString, whose value without decryption is an opaque stand-in).
//   - STS (query protocol, XML): AssumeRoleWithWebIdentity (unsigned; the JWT is verified: RS256/384/512
//     or ES256/384/512 signature against a trusted issuer's keys, iss, aud, exp, nbf; the role's
//     trust may restrict issuers and sub globs), AssumeRole (trust may restrict caller ARNs),
//     GetCallerIdentity. Issued credentials are ASIA... key ids with a session token.
//   - SigV4 on every signed call: the signature is recomputed from the received request and checked
//     against static users or the sessions the fake issued (with their session token and expiry).
//     The region of a call is the region of its credential scope.
//   - The EKS Pod Identity agent endpoint (GET /v1/credentials, Authorization = service-account
//     token with audience pods.eks.amazonaws.com; role from podIdentityAssociations).
//   - IMDSv2 (PUT /latest/api/token, then /latest/meta-data/iam/security-credentials/[ROLE],
//     placement/region, instance-id, iam/info, /latest/dynamic/instance-identity/document) for the
//     node role.
//
// Errors have AWS's shapes, so the SDK yields its typed errors: awsJson `{"__type","message"}` plus
// the X-Amzn-ErrorType header (e.g. *smtypes.ResourceNotFoundException, *ssmtypes.ParameterNotFound,
// AccessDeniedException as *smithy.GenericAPIError, InvalidSignatureException,
// UnrecognizedClientException, ExpiredTokenException), query `<ErrorResponse><Error><Type/><Code/>
// <Message/></Error>` (e.g. *ststypes.InvalidIdentityTokenException, *ststypes.ExpiredTokenException,
// AccessDenied, SignatureDoesNotMatch, InvalidClientTokenId), and {"code","message"} for the
// credential endpoints.
//
// # What it does not fake
//
// No IAM policy language (only allow globs per principal, no deny, no conditions, no resource
// policies), no KMS (SecureString values are stored in the clear), no rotation Lambdas, no
// replication, no pagination of GetParameters, no presigned (query-string) SigV4, no SigV4a, no
// event streams, no other services or operations (they get UnknownOperationException/InvalidAction).
// IMDS requires IMDSv2 tokens. Version history keeps the staged versions and ten unstaged ones.
//
// # Authorization
//
// Users (static keys) and roles carry allow globs, matched against the secret name or parameter
// name, or against the ARN when the glob starts with "arn:". In a glob '*' matches any run of
// characters, '/' included, and '?' one character (IAM's rules): "my-app/*" allows
// "my-app/db" and "my-app/a/b" but not "other/my-app/x". One list covers both services. A read
// outside the globs is AccessDeniedException naming the caller's ARN and the resource ARN (never a
// value), whether the secret exists or not. Sessions use their role's current globs, so AddRole or
// SetRoleAllow changes what existing credentials may read.
//
// # State file
//
//	region: us-east-1              # default region (IMDS, unsigned STS, admin calls)
//	accountId: "111122223333"
//	credentialTTL: 1h              # Pod Identity / IMDS credentials
//	users:
//	  - accessKeyId: AKIDEXAMPLE
//	    secretAccessKey: example-secret
//	    allow: ["my-app/*", "/my-app/*"]
//	roles:
//	  - arn: arn:aws:iam::111122223333:role/my-app
//	    allow: ["my-app/*"]
//	    trust: {subjects: ["system:serviceaccount:default:my-app"]}   # optional
//	    maxSessionDuration: 1h
//	secrets:
//	  - name: my-app/db-credentials
//	    value: '{"username":"admin","password":"supersecretpassword"}'
//	    regions: [us-east-1]        # optional; default every region
//	    versions:                   # optional older/labelled versions
//	      - {id: v1, value: old, stages: [AWSPREVIOUS]}
//	  - name: my-app/cert
//	    binary: AAECAw==            # SecretBinary, base64
//	parameters:
//	  - name: /my-app/db-port
//	    value: "5432"
//	    type: String                # or StringList, SecureString
//	    labels: [prod]
//	    history: [{value: "5431"}]  # versions 1..N-1
//	issuers:
//	  - issuer: https://kubernetes.default.svc
//	    audiences: [sts.amazonaws.com]
//	    jwks: '{"keys":[...]}'      # and/or jwksFile, publicKeyFiles (PEM), jwksURL, discovery
//	    caFile: /path/ca.crt        # for fetching over https
//	    bearerTokenFile: /path/tok  # sent when fetching
//	podIdentityAssociations:
//	  - {namespace: default, serviceAccount: my-app, roleArn: arn:aws:iam::111122223333:role/my-app}
//	nodeRole:
//	  arn: arn:aws:iam::111122223333:role/node
//
// # Go API
//
//	srv, err := fakeaws.New(state)            // or fakeaws.Load("state.yaml"); options WithLogger,
//	                                          // WithHTTPClient, WithPodIdentityPath, WithClock
//	err = srv.Start("127.0.0.1:0")            // ":0" picks a port; StartTLS(addr, cert, key) for https
//	defer srv.Close()
//	cfg, _ := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
//		config.WithBaseEndpoint(srv.URL()),
//		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example-secret", "")))
//
// Control: Calls / ResetCalls, SetFault / RemoveFault / ClearFaults / Faults, PutSecret /
// PutSecretBinary / PutSecretVersion, PutParameter, AddUser, AddRole, SetRoleAllow,
// AddPodIdentityAssociation, SetNodeRole, TrustIssuer / TrustIssuerJWKS / TrustIssuerURL,
// ExpireSessions, SessionCount, SecretARN, Listen (one more plain-http address). TokenIssuer mints
// JWTs for tests (RS256 or ES256, Kubernetes-shaped service-account tokens, its JWKS).
//
// Pointing the SDK's default credential chain at the fake (Env returns the first three):
//
//   - AWS_ENDPOINT_URL=URL() and also AWS_ENDPOINT_URL_STS=URL(): the SDK creates the web identity
//     (IRSA) provider's STS client before it applies AWS_ENDPOINT_URL, and that client ignores
//     AWS_ENDPOINT_URL unless AWS_ENDPOINT_URL_STS is set, so without it IRSA calls the real STS.
//     config.WithBaseEndpoint in code does reach that client.
//   - AWS_EC2_METADATA_SERVICE_ENDPOINT=URL() for IMDS (node role).
//   - AWS_CONTAINER_CREDENTIALS_FULL_URI=PodIdentityURL() plus AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
//     for Pod Identity. The SDK accepts plain http there only for loopback and the EKS/ECS agent
//     addresses (169.254.170.23, 169.254.170.2): from a pod, serve https (StartTLS) or Listen on
//     169.254.170.23:80 inside the test's network namespace.
//
// # Faults
//
// A Fault (SetFault, or POST /_fake/faults) matches calls by API glob, region and principal,
// for every call, the next Count ones, or a Probability share of them, and does one or more of:
//
//   - LatencyMS: a delay before the answer;
//   - ErrorCode/Status/Message, Throttle: an error in the protocol's shape;
//   - Drop: the connection closed without an answer (an agent not serving yet), counted as
//     code Dropped;
//   - Hang: the request read and never answered, until the client gives up or HangMS passes
//     (default 30 s), counted as code Hung;
//   - Response: a successful call whose answer is spoiled: ResponseBadJSON (cut and ending in
//     garbage), ResponseTruncated (Content-Length promised, half sent, connection closed),
//     ResponseEmpty (a 200 without a body), ResponseHTML (a proxy's text/html page),
//     ResponseContentType (the right body as text/plain), ResponseEndless (a body that opens a
//     string and runs for EndlessBytes, default 1 GiB, generated as it is sent), ResponseTrickle
//     (the right answer one byte every TrickleMS).
//
// Token errors of STS come from real checks (a token signed by an untrusted key is
// InvalidIdentityToken, an expired one ExpiredTokenException, a sub outside the role's trust
// AccessDenied) or from an ErrorCode fault (e.g. IDPRejectedClaim, IDPCommunicationError).
//
// # Admin HTTP API (JSON), for other processes
//
//	GET    /_fake/healthz                      "ok"
//	GET    /_fake/calls                        CallStats
//	POST   /_fake/reset-calls                  zero the counters
//	GET    /_fake/faults                       active faults
//	POST   /_fake/faults                       Fault -> {"id"} (an unknown response kind is a 400)
//	DELETE /_fake/faults[?id=ID]               clear all (or one)
//	PUT    /_fake/secrets                      SecretUpdate {name, value|binary, region?, versionId?, stages?}
//	PUT    /_fake/parameters                   {name, value} -> new version
//	PUT    /_fake/roles                        Role (add or replace, e.g. to fix a policy)
//	PUT    /_fake/users                        User
//	PUT    /_fake/issuers                      Issuer (as in the state file)
//	PUT    /_fake/pod-identity-associations    PodIdentityAssociation
//	POST   /_fake/expire-sessions              expire all issued credentials
//
// Command: go run ./test/fakeaws/cmd/fakeaws --addr 127.0.0.1:PORT --state FILE [--tls-cert F
// --tls-key F] [--also-listen ADDR,...] [--pod-identity-path P] [-v] prints "fakeaws ready on URL"
// and serves until SIGTERM/SIGINT.
//
// Secret values are never logged; the logger (WithLogger) sees API, principal, region and result.
package fakeaws
