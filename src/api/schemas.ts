/**
 * OpenAPI v3 schemas of the kinds mk serves, in the subset Kubernetes
 * publishes: `type`, `properties`, `items`, `additionalProperties`,
 * `required`, `format` (int32, int64, double, byte, date-time), `enum`,
 * `description` and the `x-kubernetes-*` extensions.
 *
 * Three readers depend on them:
 * - validation (`validation.ts`): ajv type checks, and pruning of fields a
 *   schema does not declare, so field names here are exactly Kubernetes'
 *   and a field missing here is a field mk silently drops;
 * - `/openapi/v3` and `kubectl explain`: descriptions, `required`, enums and
 *   `x-kubernetes-group-version-kind` are what kubectl shows and looks up;
 * - strategic merge patch: the `x-kubernetes-patch-strategy` /
 *   `x-kubernetes-patch-merge-key` pairs mark the lists merged by key.
 *
 * Every shared type is built once and registered under its Kubernetes
 * definition name (`io.k8s.api.core.v1.PodSpec`) in `definitions`, so a
 * serializer can replace inlined uses with `$ref`s (`definitionNameOf`).
 * Kind schemas inline them, which keeps each one self-contained for ajv.
 *
 * Adding a kind: build its spec/status from the definitions below, call
 * `kind(...)`, and add it to `schemas`.
 */

/** An OpenAPI v3 schema (the subset of JSON Schema Kubernetes uses). */
export type JSONSchema = Record<string, any>;

/** Shared definitions by Kubernetes definition name. */
export const definitions: Record<string, JSONSchema> = {};

const definitionNames = new WeakMap<JSONSchema, string>();

/**
 * The Kubernetes definition name (`io.k8s.api.core.v1.Container`) a schema
 * node stands for, when it is a shared definition or a described use of one.
 */
export function definitionNameOf(schema: JSONSchema): string | undefined {
  return definitionNames.get(schema);
}

function def(name: string, schema: JSONSchema): JSONSchema {
  definitions[name] = schema;
  definitionNames.set(schema, name);
  return schema;
}

/** A field whose type is a shared definition, with the field's own description. */
function ref(definition: JSONSchema, description?: string): JSONSchema {
  if (!description) return definition;
  const use = { ...definition, description };
  const name = definitionNames.get(definition);
  if (name) definitionNames.set(use, name);
  return use;
}

function described(schema: JSONSchema, description?: string): JSONSchema {
  if (description) schema.description = description;
  return schema;
}

const str = (description?: string) => described({ type: 'string' }, description);
const bool = (description?: string) => described({ type: 'boolean' }, description);
const int32 = (description?: string) => described({ type: 'integer', format: 'int32' }, description);
const int64 = (description?: string) => described({ type: 'integer', format: 'int64' }, description);
const bytes = (description?: string) => described({ type: 'string', format: 'byte' }, description);
const enumOf = (values: string[], description?: string) => described({ type: 'string', enum: values }, description);
const array = (items: JSONSchema, description?: string) => described({ type: 'array', items }, description);
const strings = (description?: string) => array({ type: 'string' }, description);
const mapOf = (values: JSONSchema, description?: string) => described({ type: 'object', additionalProperties: values }, description);
const stringMap = (description?: string) => mapOf({ type: 'string' }, description);
/** An object mk stores as given: it declares no fields, so nothing in it is pruned. */
const opaque = (description?: string) =>
  described({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, description);

function object(properties: Record<string, JSONSchema>, description?: string, required?: string[]): JSONSchema {
  const schema: JSONSchema = { type: 'object', properties };
  if (required?.length) schema.required = required;
  return described(schema, description);
}

/**
 * A list of objects keyed by `key`: strategic merge patch merges it item by
 * item (patch strategy `merge`), server-side apply treats it as a map.
 */
function keyedList(items: JSONSchema, key: string, description?: string, mapKeys: string[] = [key]): JSONSchema {
  return described(
    {
      type: 'array',
      items,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': mapKeys,
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-patch-merge-key': key,
    },
    description,
  );
}

/**
 * A list of objects keyed by `keys` for server-side apply, but replaced whole
 * by strategic merge patch: the Go field has `+listType=map` and no
 * `patchStrategy` tag (a container's `resources.claims`).
 */
function mapList(items: JSONSchema, keys: string[], description?: string): JSONSchema {
  return described({ type: 'array', items, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': keys }, description);
}

/** A use of a schema with a strategic merge patch strategy of its own (Deployment's `strategy`: `retainKeys`). */
function withPatchStrategy(use: JSONSchema, strategy: string): JSONSchema {
  const out = { ...use, 'x-kubernetes-patch-strategy': strategy };
  const name = definitionNames.get(use);
  if (name) definitionNames.set(out, name);
  return out;
}

/** A list of scalars merged as a set by strategic merge patch (finalizers). */
function mergedSet(description?: string): JSONSchema {
  return described(
    { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' },
    description,
  );
}

const atomic = (schema: JSONSchema): JSONSchema => ({ ...schema, 'x-kubernetes-map-type': 'atomic' });

// ---------------------------------------------------------------------------
// meta/v1 and primitives

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1.';
const CORE = 'io.k8s.api.core.v1.';
const APPS = 'io.k8s.api.apps.v1.';
const COORDINATION = 'io.k8s.api.coordination.v1.';

const Time = def(META + 'Time', {
  type: 'string',
  format: 'date-time',
  description: 'An RFC 3339 timestamp with second precision, e.g. 2024-01-02T15:04:05Z.',
});

const MicroTime = def(META + 'MicroTime', {
  type: 'string',
  format: 'date-time',
  description: 'An RFC 3339 timestamp with microsecond precision, e.g. 2024-01-02T15:04:05.000000Z.',
});

/** Accepts JSON numbers too: `cpu: 0.5` in YAML is a number, and Kubernetes parses it. */
const Quantity = def('io.k8s.apimachinery.pkg.api.resource.Quantity', {
  'x-kubernetes-int-or-string': true,
  format: 'quantity',
  description: "A fixed-point amount: a number with an optional SI ('m', 'k', 'M', 'G', ...) or binary ('Ki', 'Mi', 'Gi', ...) suffix, e.g. 500m, 1.5, 128Mi.",
});

const IntOrString = def('io.k8s.apimachinery.pkg.util.intstr.IntOrString', {
  'x-kubernetes-int-or-string': true,
  description: 'An integer or a string, e.g. a port number or a port name, a count or a percentage.',
});

const quantities = (description?: string) => mapOf(Quantity, description);

const OwnerReference = def(
  META + 'OwnerReference',
  atomic(
    object(
      {
        apiVersion: str('API version of the referent.'),
        kind: str('Kind of the referent.'),
        name: str('Name of the referent.'),
        uid: str('UID of the referent.'),
        controller: bool('If true, this reference points to the managing controller.'),
        blockOwnerDeletion: bool('If true, the owner cannot be deleted from the key-value store until this reference is removed (foreground deletion).'),
      },
      'Identifies an owning object; the garbage collector deletes this object once all its owners are gone.',
      ['apiVersion', 'kind', 'name', 'uid'],
    ),
  ),
);

const ManagedFieldsEntry = def(
  META + 'ManagedFieldsEntry',
  object(
    {
      manager: str('Identifies the workflow managing these fields.'),
      operation: str('The operation that created this entry: Apply or Update.'),
      apiVersion: str('Version of the resource the field set applies to.'),
      time: ref(Time, 'When this entry was last changed.'),
      fieldsType: str('The format of the fields entry; only FieldsV1.'),
      fieldsV1: opaque('The set of fields this manager owns.'),
      subresource: str('The subresource the object was updated through.'),
    },
    'Records which manager owns which fields (server-side apply).',
  ),
);

const ObjectMeta = def(
  META + 'ObjectMeta',
  object(
    {
      name: str('Name must be unique within a namespace. Cannot be updated.'),
      generateName: str('Prefix the server uses to generate a unique name when name is empty.'),
      namespace: str('The namespace the object lives in; empty for cluster-scoped kinds. Cannot be updated.'),
      selfLink: str('Deprecated; never set.'),
      uid: str('Unique identifier assigned by the server on creation. Read-only.'),
      resourceVersion: str('Opaque version of this object, changed on every write; used for optimistic concurrency and watches. Read-only.'),
      generation: int64('Sequence number of changes to the desired state (spec). Read-only.'),
      creationTimestamp: ref(Time, 'When the object was created. Read-only.'),
      deletionTimestamp: ref(Time, 'When the object will be deleted; set by the server when deletion is requested. Read-only.'),
      deletionGracePeriodSeconds: int64('Seconds allowed for graceful termination before removal. Read-only.'),
      labels: stringMap('Key/value pairs used to organize and select objects.'),
      annotations: stringMap('Unstructured key/value metadata for tools and libraries.'),
      ownerReferences: keyedList(OwnerReference, 'uid', 'Objects this object depends on; when all are deleted, this object is garbage collected.'),
      finalizers: mergedSet('Must be empty before the object is removed from the store; each entry names a component that cleans up first.'),
      managedFields: array(ManagedFieldsEntry, 'Field ownership records of server-side apply.'),
    },
    'Standard object metadata every persisted resource has.',
  ),
);

const LabelSelectorRequirement = def(
  META + 'LabelSelectorRequirement',
  object(
    {
      key: str('The label key the selector applies to.'),
      operator: str("Relationship of the key to the values: In, NotIn, Exists or DoesNotExist."),
      values: strings('Values for In and NotIn; must be empty for Exists and DoesNotExist.'),
    },
    'A selector requirement: a key, an operator and values.',
    ['key', 'operator'],
  ),
);

const LabelSelector = def(
  META + 'LabelSelector',
  atomic(
    object(
      {
        matchLabels: stringMap('Labels that must all match (each an In requirement with one value).'),
        matchExpressions: array(LabelSelectorRequirement, 'Requirements that must all hold.'),
      },
      'A label query; an empty selector matches everything, a null one nothing.',
    ),
  ),
);

const metadataField = ref(ObjectMeta, "Standard object's metadata.");

/**
 * A top-level kind. `x-kubernetes-group-version-kind` is how kubectl finds a
 * kind's schema in /openapi/v3 (explain, client-side validation).
 */
function kind(
  group: string,
  version: string,
  kindName: string,
  description: string,
  properties: Record<string, JSONSchema>,
  required: string[] = [],
): JSONSchema {
  return {
    type: 'object',
    description,
    properties: {
      apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
      kind: str('Kind is a string value representing the REST resource this object represents.'),
      metadata: metadataField,
      ...properties,
    },
    ...(required.length ? { required } : {}),
    'x-kubernetes-group-version-kind': [{ group, version, kind: kindName }],
  };
}

// ---------------------------------------------------------------------------
// core/v1: references and environment

const ObjectReference = def(
  CORE + 'ObjectReference',
  atomic(
    object(
      {
        kind: str('Kind of the referent.'),
        namespace: str('Namespace of the referent.'),
        name: str('Name of the referent.'),
        uid: str('UID of the referent.'),
        apiVersion: str('API version of the referent.'),
        resourceVersion: str('Specific resourceVersion the reference is made to, if any.'),
        fieldPath: str('A field within the referent, e.g. spec.containers{name}.'),
      },
      'A reference to another object.',
    ),
  ),
);

const LocalObjectReference = def(
  CORE + 'LocalObjectReference',
  atomic(object({ name: str('Name of the referent in the same namespace.') }, 'A reference to an object in the same namespace.')),
);

const KeyToPath = def(
  CORE + 'KeyToPath',
  object(
    {
      key: str('The key to project.'),
      path: str('Relative path of the file to map the key to; may not contain ..'),
      mode: int32('File mode bits (0000-0777); defaults to the volume defaultMode.'),
    },
    'Maps a key of a ConfigMap or Secret to a file path in a volume.',
    ['key', 'path'],
  ),
);

const ConfigMapKeySelector = def(
  CORE + 'ConfigMapKeySelector',
  atomic(
    object(
      { key: str('The key to select.'), name: str('Name of the ConfigMap.'), optional: bool('Whether the ConfigMap or its key may be missing.') },
      'Selects a key of a ConfigMap.',
      ['key'],
    ),
  ),
);

const SecretKeySelector = def(
  CORE + 'SecretKeySelector',
  atomic(
    object(
      { key: str('The key of the secret to select.'), name: str('Name of the Secret.'), optional: bool('Whether the Secret or its key may be missing.') },
      'Selects a key of a Secret.',
      ['key'],
    ),
  ),
);

const ObjectFieldSelector = def(
  CORE + 'ObjectFieldSelector',
  atomic(
    object(
      {
        apiVersion: str('Version of the schema fieldPath is written in; defaults to v1.'),
        fieldPath: str('Path of the field to select, e.g. metadata.name or status.podIP.'),
      },
      'Selects a field of the pod (downward API).',
      ['fieldPath'],
    ),
  ),
);

const ResourceFieldSelector = def(
  CORE + 'ResourceFieldSelector',
  atomic(
    object(
      {
        containerName: str('Container name; required for volumes, optional for env vars.'),
        resource: str('Resource to select, e.g. limits.cpu or requests.memory.'),
        divisor: ref(Quantity, 'Output format of the exposed value; defaults to 1.'),
      },
      'Selects a container resource (downward API).',
      ['resource'],
    ),
  ),
);

const EnvVarSource = def(
  CORE + 'EnvVarSource',
  object(
    {
      fieldRef: ref(ObjectFieldSelector, 'A field of the pod: metadata.name, metadata.namespace, metadata.uid, metadata.labels[...], metadata.annotations[...], spec.nodeName, spec.serviceAccountName, status.hostIP(s), status.podIP(s).'),
      resourceFieldRef: ref(ResourceFieldSelector, "A resource of the container: limits.cpu, requests.memory, ..."),
      configMapKeyRef: ref(ConfigMapKeySelector, 'A key of a ConfigMap.'),
      secretKeyRef: ref(SecretKeySelector, 'A key of a Secret.'),
    },
    "Source of an environment variable's value; exactly one field must be set.",
  ),
);

const EnvVar = def(
  CORE + 'EnvVar',
  object(
    {
      name: str('Name of the environment variable.'),
      value: str('Value, with $(VAR_NAME) references to earlier variables expanded. Defaults to "".'),
      valueFrom: ref(EnvVarSource, "Source for the variable's value; cannot be used if value is not empty."),
    },
    'An environment variable of a container.',
    ['name'],
  ),
);

const ConfigMapEnvSource = def(
  CORE + 'ConfigMapEnvSource',
  object({ name: str('Name of the ConfigMap.'), optional: bool('Whether the ConfigMap may be missing.') }, 'Exposes every key of a ConfigMap as environment variables.'),
);

const SecretEnvSource = def(
  CORE + 'SecretEnvSource',
  object({ name: str('Name of the Secret.'), optional: bool('Whether the Secret may be missing.') }, 'Exposes every key of a Secret as environment variables.'),
);

const EnvFromSource = def(
  CORE + 'EnvFromSource',
  object(
    {
      prefix: str('Prefix prepended to every key; must be a valid variable name.'),
      configMapRef: ref(ConfigMapEnvSource, 'The ConfigMap to read.'),
      secretRef: ref(SecretEnvSource, 'The Secret to read.'),
    },
    'A set of environment variables from a ConfigMap or a Secret.',
  ),
);

// ---------------------------------------------------------------------------
// core/v1: containers

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

const ContainerPort = def(
  CORE + 'ContainerPort',
  object(
    {
      name: str('IANA_SVC_NAME: at most 15 lowercase alphanumerics and dashes; referable from services.'),
      hostPort: int32('Port to expose on the host (1-65535); must equal containerPort with hostNetwork.'),
      containerPort: int32("Port to expose on the pod's IP address (1-65535)."),
      protocol: { ...enumOf(PROTOCOLS, 'Protocol: TCP, UDP or SCTP. Defaults to TCP.'), default: 'TCP' },
      hostIP: str('Host IP to bind the external port to.'),
    },
    'A network port of a single container.',
    ['containerPort'],
  ),
);

const ResourceClaim = def(
  CORE + 'ResourceClaim',
  object({ name: str('Name of an entry in pod.spec.resourceClaims.'), request: str('A request within the claim.') }, 'A reference to a pod resource claim.', ['name']),
);

const ResourceRequirements = def(
  CORE + 'ResourceRequirements',
  object(
    {
      limits: quantities('Maximum amount of compute resources allowed, e.g. cpu: 500m, memory: 128Mi.'),
      requests: quantities('Minimum amount of compute resources required; the scheduler reserves it. Defaults to limits for pods.'),
      claims: mapList(ResourceClaim, ['name'], 'Dynamic resource claims used by this container.'),
    },
    'Compute resource requirements.',
  ),
);

const ContainerResizePolicy = def(
  CORE + 'ContainerResizePolicy',
  object(
    { resourceName: str('cpu or memory.'), restartPolicy: str('NotRequired or RestartContainer.') },
    'How a container reacts to an in-place resource resize.',
    ['resourceName', 'restartPolicy'],
  ),
);

const VolumeMount = def(
  CORE + 'VolumeMount',
  object(
    {
      name: str('Name of a volume of the pod.'),
      readOnly: bool('Mount read-only. Defaults to false.'),
      recursiveReadOnly: str('Whether read-only mounts are recursively read-only: Disabled, IfPossible or Enabled.'),
      mountPath: str("Path within the container to mount the volume at; must not contain ':'."),
      subPath: str("Path within the volume to mount instead of its root."),
      mountPropagation: enumOf(['Bidirectional', 'HostToContainer', 'None'], 'How mounts propagate between host and container. Defaults to None.'),
      subPathExpr: str('Like subPath, with $(VAR_NAME) expanded from the environment.'),
    },
    'Mounts a volume into a container.',
    ['name', 'mountPath'],
  ),
);

const VolumeDevice = def(
  CORE + 'VolumeDevice',
  object({ name: str('Name of a PersistentVolumeClaim volume of the pod.'), devicePath: str('Path in the container the device is mapped to.') }, 'A raw block device mapped into a container.', ['name', 'devicePath']),
);

const ExecAction = def(
  CORE + 'ExecAction',
  object({ command: strings('Command line to run inside the container, not in a shell; exit status 0 is success.') }, 'Runs a command in the container.'),
);

const HTTPHeader = def(
  CORE + 'HTTPHeader',
  object({ name: str('Header field name.'), value: str('Header field value.') }, 'A custom HTTP header.', ['name', 'value']),
);

const HTTPGetAction = def(
  CORE + 'HTTPGetAction',
  object(
    {
      path: str('Path to request. Defaults to /.'),
      port: ref(IntOrString, 'Port number (1-65535) or name of a container port.'),
      host: str('Host name to connect to; defaults to the pod IP.'),
      scheme: enumOf(['HTTP', 'HTTPS'], 'Scheme to use. Defaults to HTTP.'),
      httpHeaders: array(HTTPHeader, 'Custom headers to send.'),
    },
    'An HTTP GET request; a 2xx or 3xx status is success.',
    ['port'],
  ),
);

const TCPSocketAction = def(
  CORE + 'TCPSocketAction',
  object(
    { port: ref(IntOrString, 'Port number (1-65535) or name of a container port.'), host: str('Host name to connect to; defaults to the pod IP.') },
    'Opens a TCP connection; success if it connects.',
    ['port'],
  ),
);

const GRPCAction = def(
  CORE + 'GRPCAction',
  object(
    { port: int32('Port number of the gRPC service (1-65535).'), service: str('Service name placed in the gRPC HealthCheckRequest.') },
    'Calls the gRPC health checking protocol.',
    ['port'],
  ),
);

const SleepAction = def(CORE + 'SleepAction', object({ seconds: int64('Seconds to sleep.') }, 'Sleeps for a duration.', ['seconds']));

const Probe = def(
  CORE + 'Probe',
  object(
    {
      exec: ref(ExecAction, 'Run a command in the container.'),
      httpGet: ref(HTTPGetAction, 'Perform an HTTP GET.'),
      tcpSocket: ref(TCPSocketAction, 'Open a TCP connection.'),
      grpc: ref(GRPCAction, 'Call a gRPC health check.'),
      initialDelaySeconds: int32('Seconds after the container starts before the first probe.'),
      timeoutSeconds: int32('Seconds after which the probe times out. Defaults to 1.'),
      periodSeconds: int32('How often to probe, in seconds. Defaults to 10.'),
      successThreshold: int32('Consecutive successes to count as success after a failure. Defaults to 1; must be 1 for liveness and startup.'),
      failureThreshold: int32('Consecutive failures to count as failure. Defaults to 3.'),
      terminationGracePeriodSeconds: int64('Grace period for the pod when this probe fails; overrides the pod value.'),
    },
    'A health check of a container; exactly one of exec, httpGet, tcpSocket and grpc must be set.',
  ),
);

const LifecycleHandler = def(
  CORE + 'LifecycleHandler',
  object(
    {
      exec: ref(ExecAction, 'Run a command in the container.'),
      httpGet: ref(HTTPGetAction, 'Perform an HTTP GET.'),
      tcpSocket: ref(TCPSocketAction, 'Deprecated; accepted for compatibility.'),
      sleep: ref(SleepAction, 'Sleep for a duration.'),
    },
    'An action for a lifecycle hook; exactly one field must be set.',
  ),
);

const Lifecycle = def(
  CORE + 'Lifecycle',
  object(
    {
      postStart: ref(LifecycleHandler, 'Called right after the container is created.'),
      preStop: ref(LifecycleHandler, 'Called before the container is terminated.'),
      stopSignal: str('Signal sent to stop the container, e.g. SIGTERM.'),
    },
    'Actions the kubelet takes around container lifecycle events.',
  ),
);

const Capabilities = def(CORE + 'Capabilities', object({ add: strings('Capabilities to add.'), drop: strings('Capabilities to drop.') }, 'POSIX capabilities to add and drop.'));

const SELinuxOptions = def(
  CORE + 'SELinuxOptions',
  object({ user: str('SELinux user label.'), role: str('SELinux role label.'), type: str('SELinux type label.'), level: str('SELinux level label.') }, 'SELinux labels.'),
);

const SeccompProfile = def(
  CORE + 'SeccompProfile',
  object(
    {
      type: enumOf(['Localhost', 'RuntimeDefault', 'Unconfined'], 'Kind of seccomp profile.'),
      localhostProfile: str('Profile file on the node, relative to the kubelet seccomp directory; only with type Localhost.'),
    },
    'A seccomp profile.',
    ['type'],
  ),
);

const AppArmorProfile = def(
  CORE + 'AppArmorProfile',
  object(
    { type: str('Localhost, RuntimeDefault or Unconfined.'), localhostProfile: str('Profile loaded on the node; only with type Localhost.') },
    'An AppArmor profile.',
    ['type'],
  ),
);

const WindowsSecurityContextOptions = def(
  CORE + 'WindowsSecurityContextOptions',
  object(
    {
      gmsaCredentialSpecName: str('Name of the GMSA credential spec to use.'),
      gmsaCredentialSpec: str('Inlined GMSA credential spec.'),
      runAsUserName: str('User name to run the entrypoint as.'),
      hostProcess: bool('Run as a Windows HostProcess container.'),
    },
    'Windows-specific security options.',
  ),
);

const SecurityContext = def(
  CORE + 'SecurityContext',
  object(
    {
      capabilities: ref(Capabilities, 'Capabilities to add or drop.'),
      privileged: bool('Run in privileged mode. Defaults to false.'),
      seLinuxOptions: ref(SELinuxOptions, 'SELinux context of the container.'),
      windowsOptions: ref(WindowsSecurityContextOptions, 'Windows-specific options.'),
      runAsUser: int64('UID to run the entrypoint as.'),
      runAsGroup: int64('GID to run the entrypoint as.'),
      runAsNonRoot: bool('Require the container to run as a non-root user.'),
      readOnlyRootFilesystem: bool('Mount the root filesystem read-only.'),
      allowPrivilegeEscalation: bool('Whether a process can gain more privileges than its parent.'),
      procMount: str('Default or Unmasked.'),
      seccompProfile: ref(SeccompProfile, 'Seccomp profile of the container.'),
      appArmorProfile: ref(AppArmorProfile, 'AppArmor profile of the container.'),
    },
    'Security options of a container; they override the pod security context.',
  ),
);

const Sysctl = def(CORE + 'Sysctl', object({ name: str('Name of the sysctl.'), value: str('Value of the sysctl.') }, 'A kernel parameter to set.', ['name', 'value']));

const PodSecurityContext = def(
  CORE + 'PodSecurityContext',
  object(
    {
      seLinuxOptions: ref(SELinuxOptions, 'SELinux context of all containers.'),
      windowsOptions: ref(WindowsSecurityContextOptions, 'Windows-specific options of all containers.'),
      runAsUser: int64('UID to run container entrypoints as.'),
      runAsGroup: int64('GID to run container entrypoints as.'),
      runAsNonRoot: bool('Require containers to run as a non-root user.'),
      supplementalGroups: array({ type: 'integer', format: 'int64' }, 'Groups added to the first process of each container.'),
      supplementalGroupsPolicy: str('Merge or Strict.'),
      fsGroup: int64('Group owning volumes, added to every container.'),
      sysctls: array(Sysctl, 'Namespaced sysctls to set.'),
      fsGroupChangePolicy: enumOf(['Always', 'OnRootMismatch'], 'When to change volume ownership to fsGroup.'),
      seccompProfile: ref(SeccompProfile, 'Seccomp profile of all containers.'),
      appArmorProfile: ref(AppArmorProfile, 'AppArmor profile of all containers.'),
      seLinuxChangePolicy: str('Recursive or MountOption.'),
    },
    'Pod-level security attributes and common container settings.',
  ),
);

function containerProperties(): Record<string, JSONSchema> {
  return {
    name: str('Name of the container: a DNS label, unique within the pod. Cannot be updated.'),
    image: str('Container image name, e.g. busybox:1.36.'),
    command: strings("Entrypoint array, not run in a shell; replaces the image's ENTRYPOINT. $(VAR_NAME) is expanded."),
    args: strings("Arguments to the entrypoint; replace the image's CMD. $(VAR_NAME) is expanded."),
    workingDir: str("Working directory; defaults to the image's."),
    ports: keyedList(ContainerPort, 'containerPort', 'Ports to expose from the container (informational).', ['containerPort', 'protocol']),
    envFrom: array(EnvFromSource, 'Sources whose keys become environment variables; env wins on duplicates.'),
    env: keyedList(EnvVar, 'name', 'Environment variables to set in the container.'),
    resources: ref(ResourceRequirements, 'Compute resources required by this container.'),
    resizePolicy: array(ContainerResizePolicy, 'Resize policy per resource.'),
    restartPolicy: str('Init containers only: Always makes a sidecar that keeps running.'),
    volumeMounts: keyedList(VolumeMount, 'mountPath', 'Pod volumes to mount into the filesystem.', ['mountPath']),
    volumeDevices: keyedList(VolumeDevice, 'devicePath', 'Block devices to use.', ['devicePath']),
    livenessProbe: ref(Probe, 'Periodic probe of container liveness; the container is restarted if it fails.'),
    readinessProbe: ref(Probe, 'Periodic probe of readiness; the pod is removed from service endpoints while it fails.'),
    startupProbe: ref(Probe, 'Probe that must succeed before the other probes start.'),
    lifecycle: ref(Lifecycle, 'Actions around container start and stop.'),
    terminationMessagePath: str("File the container's termination message is read from. Defaults to /dev/termination-log."),
    terminationMessagePolicy: enumOf(['File', 'FallbackToLogsOnError'], 'How the termination message is populated. Defaults to File.'),
    imagePullPolicy: enumOf(['Always', 'IfNotPresent', 'Never'], 'Always for :latest or untagged images, otherwise IfNotPresent by default.'),
    securityContext: ref(SecurityContext, 'Security options the container runs with.'),
    stdin: bool('Allocate a buffer for stdin; reads block until attached.'),
    stdinOnce: bool('Close stdin after the first attach session.'),
    tty: bool('Allocate a TTY; requires stdin.'),
  };
}

const Container = def(
  CORE + 'Container',
  object(containerProperties(), 'A single application container that runs within a pod.', ['name']),
);

const EphemeralContainer = def(
  CORE + 'EphemeralContainer',
  object(
    { ...containerProperties(), targetContainerName: str('Container whose namespaces (IPC, PID, ...) this container joins.') },
    'A temporary container added to a running pod for debugging.',
    ['name'],
  ),
);

// ---------------------------------------------------------------------------
// core/v1: volumes

const EmptyDirVolumeSource = def(
  CORE + 'EmptyDirVolumeSource',
  object(
    { medium: str('Storage medium: "" (node default) or Memory.'), sizeLimit: ref(Quantity, 'Total local storage the volume may use.') },
    "A temporary directory that shares the pod's lifetime.",
  ),
);

const HostPathVolumeSource = def(
  CORE + 'HostPathVolumeSource',
  object(
    {
      path: str('Path of the directory on the host; a symlink is followed.'),
      type: enumOf(['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'], 'Type check of the host path. Defaults to "".'),
    },
    'A file or directory on the host node mapped into the pod.',
    ['path'],
  ),
);

const ConfigMapVolumeSource = def(
  CORE + 'ConfigMapVolumeSource',
  object(
    {
      name: str('Name of the ConfigMap.'),
      items: array(KeyToPath, 'Keys to project; all keys when empty.'),
      defaultMode: int32('Mode bits of created files, 0000-0777. Defaults to 0644.'),
      optional: bool('Whether the ConfigMap or its keys may be missing.'),
    },
    'Populates a volume with the keys of a ConfigMap.',
  ),
);

const SecretVolumeSource = def(
  CORE + 'SecretVolumeSource',
  object(
    {
      secretName: str('Name of the Secret in the pod namespace.'),
      items: array(KeyToPath, 'Keys to project; all keys when empty.'),
      defaultMode: int32('Mode bits of created files, 0000-0777. Defaults to 0644.'),
      optional: bool('Whether the Secret or its keys may be missing.'),
    },
    'Populates a volume with the keys of a Secret.',
  ),
);

const PersistentVolumeClaimVolumeSource = def(
  CORE + 'PersistentVolumeClaimVolumeSource',
  object(
    { claimName: str('Name of a PersistentVolumeClaim in the pod namespace.'), readOnly: bool('Mount read-only.') },
    'References a PersistentVolumeClaim.',
    ['claimName'],
  ),
);

const DownwardAPIVolumeFile = def(
  CORE + 'DownwardAPIVolumeFile',
  object(
    {
      path: str('Relative path of the file to create.'),
      fieldRef: ref(ObjectFieldSelector, 'A field of the pod: metadata.name, metadata.namespace, metadata.labels, metadata.annotations, metadata.uid.'),
      resourceFieldRef: ref(ResourceFieldSelector, 'A container resource.'),
      mode: int32('Mode bits of the file, 0000-0777.'),
    },
    'A file holding pod information.',
    ['path'],
  ),
);

const DownwardAPIVolumeSource = def(
  CORE + 'DownwardAPIVolumeSource',
  object(
    { items: array(DownwardAPIVolumeFile, 'Files to create.'), defaultMode: int32('Mode bits of created files. Defaults to 0644.') },
    'Exposes pod information as files.',
  ),
);

const ServiceAccountTokenProjection = def(
  CORE + 'ServiceAccountTokenProjection',
  object(
    {
      audience: str('Intended audience of the token.'),
      expirationSeconds: int64('Requested validity of the token. Defaults to 1 hour; at least 10 minutes.'),
      path: str('Path of the token file relative to the mount point.'),
    },
    'A projected service account token.',
    ['path'],
  ),
);

const projectionOf = (definition: string, description: string, extra: Record<string, JSONSchema>) =>
  def(CORE + definition, object({ name: str('Name of the referent.'), items: array(KeyToPath, 'Keys to project; all keys when empty.'), optional: bool('Whether the referent may be missing.'), ...extra }, description));

const VolumeProjection = def(
  CORE + 'VolumeProjection',
  object(
    {
      secret: ref(projectionOf('SecretProjection', 'Projects the keys of a Secret.', {})),
      configMap: ref(projectionOf('ConfigMapProjection', 'Projects the keys of a ConfigMap.', {})),
      downwardAPI: ref(def(CORE + 'DownwardAPIProjection', object({ items: array(DownwardAPIVolumeFile, 'Files to create.') }, 'Projects pod information.'))),
      serviceAccountToken: ref(ServiceAccountTokenProjection),
      clusterTrustBundle: opaque('Projects a ClusterTrustBundle.'),
    },
    'One source of a projected volume; exactly one field must be set.',
  ),
);

const ProjectedVolumeSource = def(
  CORE + 'ProjectedVolumeSource',
  object(
    { sources: array(VolumeProjection, 'The volume projections.'), defaultMode: int32('Mode bits of created files. Defaults to 0644.') },
    'Several sources projected into one directory.',
  ),
);

const NFSVolumeSource = def(
  CORE + 'NFSVolumeSource',
  object({ server: str('Hostname or IP of the NFS server.'), path: str('Exported path.'), readOnly: bool('Mount read-only.') }, 'An NFS mount.', ['server', 'path']),
);

const CSIVolumeSource = def(
  CORE + 'CSIVolumeSource',
  object(
    {
      driver: str('Name of the CSI driver.'),
      readOnly: bool('Mount read-only.'),
      fsType: str('Filesystem type to mount.'),
      volumeAttributes: stringMap('Driver-specific attributes.'),
      nodePublishSecretRef: ref(LocalObjectReference, 'Secret passed to the driver.'),
    },
    'An ephemeral volume provided by a CSI driver.',
    ['driver'],
  ),
);

const ImageVolumeSource = def(
  CORE + 'ImageVolumeSource',
  object({ reference: str('Image or artifact reference.'), pullPolicy: str('Always, Never or IfNotPresent.') }, 'An OCI image or artifact mounted read-only.'),
);

/** Sources mk cannot provide are kept as given so manifests round-trip. */
const legacyVolumeSources = [
  'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'iscsi', 'glusterfs', 'rbd', 'flexVolume', 'cinder', 'cephfs',
  'flocker', 'fc', 'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'portworxVolume',
  'scaleIO', 'storageos', 'ephemeral',
];

const Volume = def(
  CORE + 'Volume',
  object(
    {
      name: str('Name of the volume: a DNS label unique within the pod.'),
      emptyDir: ref(EmptyDirVolumeSource, "A temporary directory that shares the pod's lifetime."),
      hostPath: ref(HostPathVolumeSource, 'A file or directory on the host.'),
      configMap: ref(ConfigMapVolumeSource, 'A ConfigMap.'),
      secret: ref(SecretVolumeSource, 'A Secret.'),
      persistentVolumeClaim: ref(PersistentVolumeClaimVolumeSource, 'A PersistentVolumeClaim in the same namespace.'),
      downwardAPI: ref(DownwardAPIVolumeSource, 'Pod information.'),
      projected: ref(ProjectedVolumeSource, 'Several sources in one directory.'),
      nfs: ref(NFSVolumeSource, 'An NFS mount.'),
      csi: ref(CSIVolumeSource, 'A CSI ephemeral volume.'),
      image: ref(ImageVolumeSource, 'An OCI image.'),
      ...Object.fromEntries(legacyVolumeSources.map((s) => [s, opaque('Accepted for compatibility; mk does not provide this volume type.')])),
    },
    'A named volume in a pod; exactly one source must be set (emptyDir when none is).',
    ['name'],
  ),
);

/** The fields of a Volume that name its source; defaulting and validation count them. */
export const volumeSourceFields: string[] = Object.keys(Volume.properties).filter((k) => k !== 'name');

// ---------------------------------------------------------------------------
// core/v1: scheduling

const NodeSelectorRequirement = def(
  CORE + 'NodeSelectorRequirement',
  object(
    {
      key: str('The label key.'),
      operator: str('In, NotIn, Exists, DoesNotExist, Gt or Lt.'),
      values: strings('Values for In/NotIn, one integer for Gt/Lt, empty for Exists/DoesNotExist.'),
    },
    'A node label requirement.',
    ['key', 'operator'],
  ),
);

const NodeSelectorTerm = def(
  CORE + 'NodeSelectorTerm',
  atomic(
    object(
      {
        matchExpressions: array(NodeSelectorRequirement, 'Requirements on node labels.'),
        matchFields: array(NodeSelectorRequirement, 'Requirements on node fields (metadata.name).'),
      },
      'Requirements that must all hold; an empty term matches nothing.',
    ),
  ),
);

const NodeSelector = def(
  CORE + 'NodeSelector',
  atomic(object({ nodeSelectorTerms: array(NodeSelectorTerm, 'Terms of which at least one must match (ORed).') }, 'A union of node selector terms.', ['nodeSelectorTerms'])),
);

const PreferredSchedulingTerm = def(
  CORE + 'PreferredSchedulingTerm',
  object(
    { weight: int32('Weight 1-100 added to the score of matching nodes.'), preference: ref(NodeSelectorTerm, 'The node selector term.') },
    'A weighted node preference.',
    ['weight', 'preference'],
  ),
);

const NodeAffinity = def(
  CORE + 'NodeAffinity',
  object(
    {
      requiredDuringSchedulingIgnoredDuringExecution: ref(NodeSelector, 'Nodes the pod may be scheduled onto.'),
      preferredDuringSchedulingIgnoredDuringExecution: array(PreferredSchedulingTerm, 'Nodes the scheduler prefers.'),
    },
    'Node affinity scheduling rules.',
  ),
);

const PodAffinityTerm = def(
  CORE + 'PodAffinityTerm',
  object(
    {
      labelSelector: ref(LabelSelector, 'Pods this term applies to.'),
      namespaces: strings('Namespaces of those pods; the pod namespace when empty and namespaceSelector is null.'),
      topologyKey: str('Node label key whose value defines co-location, e.g. kubernetes.io/hostname.'),
      namespaceSelector: ref(LabelSelector, 'Namespaces of those pods, by label.'),
      matchLabelKeys: strings('Label keys of the incoming pod merged into labelSelector as key in (value).'),
      mismatchLabelKeys: strings('Label keys of the incoming pod merged into labelSelector as key notin (value).'),
    },
    'Pods that must (or must not) run in the same topology domain.',
    ['topologyKey'],
  ),
);

const WeightedPodAffinityTerm = def(
  CORE + 'WeightedPodAffinityTerm',
  object(
    { weight: int32('Weight 1-100.'), podAffinityTerm: ref(PodAffinityTerm, 'The pod affinity term.') },
    'A weighted pod affinity term.',
    ['weight', 'podAffinityTerm'],
  ),
);

const podAffinityProperties = (verb: string) => ({
  requiredDuringSchedulingIgnoredDuringExecution: array(PodAffinityTerm, `Terms that must hold for the pod to ${verb}.`),
  preferredDuringSchedulingIgnoredDuringExecution: array(WeightedPodAffinityTerm, 'Terms the scheduler prefers.'),
});

const PodAffinity = def(CORE + 'PodAffinity', object(podAffinityProperties('be co-located'), 'Pod affinity scheduling rules.'));
const PodAntiAffinity = def(CORE + 'PodAntiAffinity', object(podAffinityProperties('be kept apart'), 'Pod anti-affinity scheduling rules.'));

const Affinity = def(
  CORE + 'Affinity',
  object(
    {
      nodeAffinity: ref(NodeAffinity, 'Node affinity scheduling rules.'),
      podAffinity: ref(PodAffinity, 'Co-locate with other pods.'),
      podAntiAffinity: ref(PodAntiAffinity, 'Avoid other pods.'),
    },
    'Scheduling constraints.',
  ),
);

const Toleration = def(
  CORE + 'Toleration',
  object(
    {
      key: str('Taint key the toleration applies to; empty with operator Exists matches all taints.'),
      operator: str('Exists or Equal. Defaults to Equal.'),
      value: str('Taint value to match; empty with operator Exists.'),
      effect: str('Taint effect to match: NoSchedule, PreferNoSchedule or NoExecute; empty matches all.'),
      tolerationSeconds: int64('For NoExecute: how long the pod stays bound after the taint appears.'),
    },
    'Allows a pod onto nodes with a matching taint.',
  ),
);

const Taint = def(
  CORE + 'Taint',
  object(
    {
      key: str('The taint key.'),
      value: str('The taint value.'),
      effect: str('NoSchedule, PreferNoSchedule or NoExecute.'),
      timeAdded: ref(Time, 'When a NoExecute taint was added.'),
    },
    'Repels pods that do not tolerate it.',
    ['key', 'effect'],
  ),
);

const TopologySpreadConstraint = def(
  CORE + 'TopologySpreadConstraint',
  object(
    {
      maxSkew: int32('Maximum difference in matching pods between topology domains.'),
      topologyKey: str('Node label key that defines the domains.'),
      whenUnsatisfiable: enumOf(['DoNotSchedule', 'ScheduleAnyway'], 'What to do when the constraint cannot be met.'),
      labelSelector: ref(LabelSelector, 'Pods counted in each domain.'),
      minDomains: int32('Minimum number of eligible domains.'),
      nodeAffinityPolicy: enumOf(['Honor', 'Ignore'], 'Whether nodeAffinity/nodeSelector limit the domains.'),
      nodeTaintsPolicy: enumOf(['Honor', 'Ignore'], 'Whether node taints limit the domains.'),
      matchLabelKeys: strings('Label keys of the incoming pod added to labelSelector.'),
    },
    'Spreads matching pods across topology domains.',
    ['maxSkew', 'topologyKey', 'whenUnsatisfiable'],
  ),
);

const PodDNSConfig = def(
  CORE + 'PodDNSConfig',
  object(
    {
      nameservers: strings('DNS server IPs, at most 3.'),
      searches: strings('DNS search domains.'),
      options: array(def(CORE + 'PodDNSConfigOption', object({ name: str('Option name.'), value: str('Option value.') }, 'A resolver option.')), 'Resolver options.'),
    },
    'DNS parameters merged with those from dnsPolicy.',
  ),
);

const HostAlias = def(CORE + 'HostAlias', object({ ip: str('IP address.'), hostnames: strings('Host names for the IP.') }, "An entry of the pod's /etc/hosts.", ['ip']));

// ---------------------------------------------------------------------------
// core/v1: pods

const PodSpec = def(
  CORE + 'PodSpec',
  object(
    {
      volumes: described(
        { ...keyedList(Volume, 'name'), 'x-kubernetes-patch-strategy': 'merge,retainKeys' },
        'Volumes that containers of the pod can mount.',
      ),
      initContainers: keyedList(Container, 'name', 'Containers run to completion, in order, before the app containers start.'),
      containers: keyedList(Container, 'name', 'The containers of the pod; at least one. Cannot be added or removed.'),
      ephemeralContainers: keyedList(EphemeralContainer, 'name', 'Debugging containers added through the ephemeralcontainers subresource.'),
      restartPolicy: enumOf(['Always', 'OnFailure', 'Never'], 'Restart policy for all containers: Always, OnFailure or Never. Defaults to Always.'),
      terminationGracePeriodSeconds: int64('Seconds the pod is given to terminate gracefully after SIGTERM. Defaults to 30.'),
      activeDeadlineSeconds: int64('Seconds the pod may be active on a node before the system fails it.'),
      dnsPolicy: enumOf(['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'], 'DNS policy of the pod. Defaults to ClusterFirst.'),
      nodeSelector: atomic(stringMap('Labels a node must have for the pod to be scheduled there.')),
      serviceAccountName: str('Name of the ServiceAccount the pod runs as.'),
      serviceAccount: str('Deprecated alias of serviceAccountName.'),
      automountServiceAccountToken: bool('Whether a service account token is mounted automatically.'),
      nodeName: str('The node the pod is bound to; set by the scheduler through the binding subresource.'),
      hostNetwork: bool("Use the host's network namespace. Defaults to false."),
      hostPID: bool("Use the host's PID namespace."),
      hostIPC: bool("Use the host's IPC namespace."),
      shareProcessNamespace: bool('Share one process namespace between the containers.'),
      securityContext: ref(PodSecurityContext, 'Pod-level security attributes. Defaults to {}.'),
      imagePullSecrets: keyedList(LocalObjectReference, 'name', 'Secrets used to pull the images.'),
      hostname: str("The pod's hostname; defaults to the pod name."),
      subdomain: str('With hostname, makes the FQDN <hostname>.<subdomain>.<namespace>.svc.<cluster-domain>.'),
      affinity: ref(Affinity, 'Scheduling constraints.'),
      schedulerName: str('The scheduler that schedules the pod. Defaults to default-scheduler.'),
      tolerations: array(Toleration, 'Taints the pod tolerates.'),
      hostAliases: keyedList(HostAlias, 'ip', "Entries added to the pod's /etc/hosts."),
      priorityClassName: str('Name of the PriorityClass giving the pod its priority.'),
      priority: int32('Priority value, set from priorityClassName by admission; higher is more important.'),
      dnsConfig: ref(PodDNSConfig, 'DNS parameters in addition to dnsPolicy.'),
      readinessGates: array(def(CORE + 'PodReadinessGate', object({ conditionType: str('A pod condition type.') }, 'An extra condition for pod readiness.', ['conditionType'])), 'Extra conditions for pod readiness.'),
      runtimeClassName: str('Name of the RuntimeClass to run the pod with.'),
      enableServiceLinks: bool('Inject service environment variables (Docker links style). Defaults to true.'),
      preemptionPolicy: enumOf(['PreemptLowerPriority', 'Never'], 'Whether the pod may preempt lower-priority pods. Defaults to PreemptLowerPriority.'),
      overhead: quantities('Resources of the pod sandbox, set by RuntimeClass admission.'),
      topologySpreadConstraints: keyedList(TopologySpreadConstraint, 'topologyKey', 'How pods spread across topology domains.', ['topologyKey', 'whenUnsatisfiable']),
      setHostnameAsFQDN: bool('Use the FQDN as the hostname.'),
      os: ref(def(CORE + 'PodOS', object({ name: enumOf(['linux', 'windows'], 'linux or windows.') }, 'The operating system of the pod.', ['name']))),
      hostUsers: bool("Use the host's user namespace. Defaults to true."),
      schedulingGates: keyedList(def(CORE + 'PodSchedulingGate', object({ name: str('Name of the gate.') }, 'A gate that blocks scheduling.', ['name'])), 'name', 'Gates that must all be removed before the pod is scheduled.'),
      resourceClaims: {
        ...keyedList(def(CORE + 'PodResourceClaim', object({ name: str('Name of the claim in the pod.'), resourceClaimName: str('An existing ResourceClaim.'), resourceClaimTemplateName: str('A ResourceClaimTemplate.') }, 'A dynamic resource claim of the pod.', ['name'])), 'name', 'Dynamic resource claims of the pod.'),
        'x-kubernetes-patch-strategy': 'merge,retainKeys',
      },
      resources: ref(ResourceRequirements, 'Pod-level resource requirements (cpu, memory, hugepages).'),
    },
    'The desired behaviour of a pod.',
    ['containers'],
  ),
);

const PodTemplateSpec = def(
  CORE + 'PodTemplateSpec',
  object(
    { metadata: metadataField, spec: ref(PodSpec, 'Specification of the desired behaviour of the pod.') },
    'Template of the pods a controller creates.',
  ),
);

const Condition = def(
  META + 'Condition',
  object(
    {
      type: str('Type of the condition, in CamelCase.'),
      status: enumOf(['True', 'False', 'Unknown'], 'True, False or Unknown.'),
      observedGeneration: int64('The .metadata.generation the condition was set for.'),
      lastTransitionTime: ref(Time, 'When the condition last changed status.'),
      reason: str('Programmatic reason, in CamelCase.'),
      message: str('Human-readable details.'),
    },
    'A standard condition of a resource.',
    ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  ),
);

/** A `<Kind>Condition` of core and apps: type and status plus optional times and reasons. */
function condition(name: string, description: string, times: string[]): JSONSchema {
  const properties: Record<string, JSONSchema> = {
    type: str('Type of the condition.'),
    status: str('True, False or Unknown.'),
  };
  for (const t of times) properties[t] = ref(Time);
  properties.reason = str('Unique, one-word, CamelCase reason for the last transition.');
  properties.message = str('Human-readable details of the last transition.');
  return def(name, object(properties, description, ['type', 'status']));
}

const PodCondition = condition(CORE + 'PodCondition', 'A condition of a pod: PodScheduled, Initialized, ContainersReady, Ready, ...', ['lastProbeTime', 'lastTransitionTime']);
PodCondition.properties.observedGeneration = int64('The pod .metadata.generation the condition was set for.');

const ContainerState = def(
  CORE + 'ContainerState',
  object(
    {
      waiting: ref(def(CORE + 'ContainerStateWaiting', object({ reason: str('Why the container is not yet running, e.g. ContainerCreating.'), message: str('Details.') }, 'A waiting container.'))),
      running: ref(def(CORE + 'ContainerStateRunning', object({ startedAt: ref(Time, 'When the container last (re)started.') }, 'A running container.'))),
      terminated: ref(
        def(
          CORE + 'ContainerStateTerminated',
          object(
            {
              exitCode: int32('Exit status of the last termination.'),
              signal: int32('Signal of the last termination.'),
              reason: str('Reason of the last termination, e.g. Completed, Error, OOMKilled.'),
              message: str('Details.'),
              startedAt: ref(Time, 'When the container started.'),
              finishedAt: ref(Time, 'When the container terminated.'),
              containerID: str("The container's ID in the runtime, <type>://<id>."),
            },
            'A terminated container.',
            ['exitCode'],
          ),
        ),
      ),
    },
    'The state of a container; at most one field is set (waiting when none is).',
  ),
);

/** Status shapes written by the node agent stay open: a field it adds must not be pruned. */
const ContainerStatus = def(
  CORE + 'ContainerStatus',
  object(
    {
      name: str('Name of the container.'),
      state: ref(ContainerState, 'Current state.'),
      lastState: ref(ContainerState, 'State of the previous termination.'),
      ready: bool('Whether the container passes its readiness probe.'),
      restartCount: int32('Number of restarts.'),
      image: str('The image the container runs.'),
      imageID: str('ID of the image.'),
      containerID: str("The container's ID in the runtime, <type>://<id>."),
      started: bool('Whether the container passed its startup probe.'),
      allocatedResources: quantities('Resources allocated on the node.'),
      resources: ref(ResourceRequirements, 'Resources actually configured.'),
      volumeMounts: array(opaque('A mounted volume.'), 'Mounts of the container.'),
      user: opaque('Identity of the process.'),
      allocatedResourcesStatus: array(opaque('Health of allocated resources.')),
      stopSignal: str('Signal used to stop the container.'),
    },
    'The status of a container.',
  ),
);

const PodIP = def(CORE + 'PodIP', object({ ip: str('An IP address.') }, 'An IP address of the pod.'));
const HostIP = def(CORE + 'HostIP', object({ ip: str('An IP address.') }, 'An IP address of the host.'));

const PodStatus = def(
  CORE + 'PodStatus',
  object(
    {
      observedGeneration: int64('The .metadata.generation this status reflects.'),
      phase: str('Pending, Running, Succeeded, Failed or Unknown.'),
      conditions: keyedList(PodCondition, 'type', 'Current service state of the pod.'),
      message: str('Why the pod is in this condition.'),
      reason: str('Brief CamelCase reason, e.g. Evicted.'),
      nominatedNodeName: str('Node the pod is expected to run on after preemption.'),
      hostIP: str('IP of the node the pod runs on.'),
      hostIPs: keyedList(HostIP, 'ip', 'IPs of the node.'),
      podIP: str('IP address allocated to the pod.'),
      podIPs: keyedList(PodIP, 'ip', 'IPs allocated to the pod, one per family.'),
      startTime: ref(Time, 'When the kubelet acknowledged the pod.'),
      initContainerStatuses: array(ContainerStatus, 'Statuses of the init containers.'),
      containerStatuses: array(ContainerStatus, 'Statuses of the app containers.'),
      ephemeralContainerStatuses: array(ContainerStatus, 'Statuses of the ephemeral containers.'),
      qosClass: str('Guaranteed, Burstable or BestEffort, from the resource requirements.'),
      resize: str('Status of a resize request.'),
      resourceClaimStatuses: array(opaque('A resource claim status.')),
    },
    'The most recently observed status of a pod; may lag behind the actual state.',
  ),
);

// ---------------------------------------------------------------------------
// core/v1: nodes

const NodeSpec = def(
  CORE + 'NodeSpec',
  object(
    {
      podCIDR: str('Pod IP range assigned to the node.'),
      podCIDRs: mergedSet('Pod IP ranges assigned to the node, one per family; the first equals podCIDR.'),
      providerID: str('ID assigned by the cloud provider, <ProviderName>://<ProviderSpecificNodeID>.'),
      unschedulable: bool('Keeps new pods off the node (kubectl cordon).'),
      taints: array(Taint, 'Taints of the node.'),
      configSource: opaque('Deprecated.'),
      externalID: str('Deprecated.'),
    },
    'The desired state of a node.',
  ),
);

const NodeStatus = def(
  CORE + 'NodeStatus',
  object(
    {
      capacity: quantities('Total resources of the node.'),
      allocatable: quantities('Resources available for pods; defaults to capacity.'),
      phase: str('Deprecated.'),
      conditions: keyedList(condition(CORE + 'NodeCondition', 'A condition of a node: Ready, MemoryPressure, DiskPressure, PIDPressure, ...', ['lastHeartbeatTime', 'lastTransitionTime']), 'type', 'Current service state of the node.'),
      addresses: keyedList(def(CORE + 'NodeAddress', object({ type: str('Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.'), address: str('The address.') }, 'An address of a node.', ['type', 'address'])), 'type', 'Addresses reachable to the node.'),
      daemonEndpoints: ref(
        def(
          CORE + 'NodeDaemonEndpoints',
          object(
            { kubeletEndpoint: ref(def(CORE + 'DaemonEndpoint', object({ Port: int32('Port number of the endpoint.') }, 'A daemon endpoint.', ['Port'])), 'Endpoint the kubelet listens on.') },
            'Ports of daemons running on the node.',
          ),
        ),
        'Endpoints of daemons running on the node.',
      ),
      nodeInfo: ref(
        def(
          CORE + 'NodeSystemInfo',
          object(
            {
              machineID: str('Machine ID.'),
              systemUUID: str('System UUID.'),
              bootID: str('Boot ID.'),
              kernelVersion: str('Kernel version (uname -r).'),
              osImage: str('OS image (/etc/os-release PRETTY_NAME).'),
              containerRuntimeVersion: str('Container runtime version, <runtime>://<version>.'),
              kubeletVersion: str('Kubelet version.'),
              kubeProxyVersion: str('Deprecated.'),
              operatingSystem: str('The operating system, e.g. linux.'),
              architecture: str('The architecture, e.g. amd64.'),
              swap: opaque('Swap information.'),
            },
            'Identifying information of a node.',
          ),
        ),
        'General information about the node.',
      ),
      images: array(def(CORE + 'ContainerImage', object({ names: strings('Names of the image.'), sizeBytes: int64('Size of the image in bytes.') }, 'A container image on the node.')), 'Images on the node.'),
      volumesInUse: strings('Volumes in use on the node.'),
      volumesAttached: array(opaque('An attached volume.'), 'Volumes attached to the node.'),
      config: opaque('Status of the dynamic kubelet config (deprecated).'),
      runtimeHandlers: array(opaque('A runtime handler.'), 'Runtime handlers available.'),
      features: opaque('Features supported by the node.'),
    },
    'The most recently observed status of a node.',
  ),
);

// ---------------------------------------------------------------------------
// core/v1: services and endpoints

const ServicePort = def(
  CORE + 'ServicePort',
  object(
    {
      name: str('Name of the port: a DNS label, required when the service has more than one port.'),
      protocol: { ...enumOf(PROTOCOLS, 'TCP, UDP or SCTP. Defaults to TCP.'), default: 'TCP' },
      appProtocol: str('Application protocol, e.g. http or kubernetes.io/h2c.'),
      port: int32('The port the service exposes.'),
      targetPort: ref(IntOrString, "Port number or name on the pods; defaults to port."),
      nodePort: int32('Port on every node for NodePort and LoadBalancer services; allocated when empty.'),
    },
    'A port a service exposes.',
    ['port'],
  ),
);

const ServiceSpec = def(
  CORE + 'ServiceSpec',
  object(
    {
      ports: keyedList(ServicePort, 'port', 'Ports the service exposes.', ['port', 'protocol']),
      selector: atomic(stringMap('Routes traffic to pods with these labels; endpoints are managed externally when empty.')),
      clusterIP: str('Virtual IP of the service, allocated when empty; None makes a headless service. Cannot be changed once set.'),
      clusterIPs: atomic(strings('Cluster IPs, one per family; the first equals clusterIP.')),
      type: enumOf(['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'], 'How the service is exposed. Defaults to ClusterIP.'),
      externalIPs: strings('IPs on which nodes also accept traffic for the service.'),
      sessionAffinity: enumOf(['ClientIP', 'None'], 'ClientIP keeps a client on one endpoint. Defaults to None.'),
      loadBalancerIP: str('Deprecated.'),
      loadBalancerSourceRanges: strings('Client CIDRs allowed through the load balancer.'),
      externalName: str('DNS name returned as a CNAME, for type ExternalName.'),
      externalTrafficPolicy: enumOf(['Cluster', 'Local'], 'Routing of external traffic: Cluster, or Local (node-local endpoints only, client IP kept).'),
      healthCheckNodePort: int32('Health check node port for externalTrafficPolicy Local load balancers.'),
      publishNotReadyAddresses: bool('Publish endpoints of pods that are not ready.'),
      sessionAffinityConfig: ref(
        def(
          CORE + 'SessionAffinityConfig',
          object(
            { clientIP: ref(def(CORE + 'ClientIPConfig', object({ timeoutSeconds: int32('Seconds of ClientIP stickiness, 1-86400. Defaults to 10800.') }, 'ClientIP session affinity settings.'))) },
            'Session affinity settings.',
          ),
        ),
        'Session affinity settings.',
      ),
      ipFamilies: atomic(array(enumOf(['IPv4', 'IPv6']), 'IP families of the service, in order.')),
      ipFamilyPolicy: enumOf(['PreferDualStack', 'RequireDualStack', 'SingleStack'], 'Dual-stack policy. Defaults to SingleStack (RequireDualStack for selectorless headless services).'),
      allocateLoadBalancerNodePorts: bool('Allocate node ports for LoadBalancer services. Defaults to true.'),
      loadBalancerClass: str('Load balancer implementation to use.'),
      internalTrafficPolicy: enumOf(['Cluster', 'Local'], 'Routing of traffic from inside the cluster. Defaults to Cluster.'),
      trafficDistribution: str('Preference for routing traffic, e.g. PreferClose.'),
    },
    'The desired state of a service.',
  ),
);

const ServiceStatus = def(
  CORE + 'ServiceStatus',
  object(
    {
      loadBalancer: ref(
        def(
          CORE + 'LoadBalancerStatus',
          object(
            {
              ingress: array(
                def(
                  CORE + 'LoadBalancerIngress',
                  object(
                    {
                      ip: str('IP of the load balancer.'),
                      hostname: str('Host name of the load balancer.'),
                      ipMode: str('VIP or Proxy.'),
                      ports: array(object({ port: int32('Port number.'), protocol: str('Protocol.'), error: str('Problem with the port.') }, 'A port status.', ['port', 'protocol'])),
                    },
                    'An ingress point of a load balancer.',
                  ),
                ),
                'Ingress points of the load balancer.',
              ),
            },
            'Status of a load balancer.',
          ),
        ),
        'Status of the load balancer, if any.',
      ),
      conditions: keyedList(Condition, 'type', 'Current service state.'),
    },
    'The most recently observed status of a service.',
  ),
);

const EndpointAddress = def(
  CORE + 'EndpointAddress',
  atomic(
    object(
      {
        ip: str('IP of the endpoint.'),
        hostname: str('Hostname of the endpoint.'),
        nodeName: str('Node hosting the endpoint.'),
        targetRef: ref(ObjectReference, 'The object providing the endpoint, usually a pod.'),
      },
      'A single IP address of an endpoint.',
      ['ip'],
    ),
  ),
);

const EndpointPort = def(
  CORE + 'EndpointPort',
  atomic(
    object(
      {
        name: str('Name of the port; must match the ServicePort name.'),
        port: int32('The port number.'),
        protocol: enumOf(PROTOCOLS, 'TCP, UDP or SCTP. Defaults to TCP.'),
        appProtocol: str('Application protocol.'),
      },
      'A port of an endpoint.',
      ['port'],
    ),
  ),
);

const EndpointSubset = def(
  CORE + 'EndpointSubset',
  object(
    {
      addresses: array(EndpointAddress, 'Ready addresses.'),
      notReadyAddresses: array(EndpointAddress, 'Addresses not (yet) ready.'),
      ports: array(EndpointPort, 'Ports available on all the addresses.'),
    },
    'A set of addresses sharing a set of ports.',
  ),
);

// ---------------------------------------------------------------------------
// apps/v1

const rollingUpdate = (name: string, description: string, defaults: string) =>
  def(
    APPS + name,
    object(
      {
        maxUnavailable: ref(IntOrString, `Pods that may be unavailable during the update: a number or a percentage. ${defaults}`),
        maxSurge: ref(IntOrString, 'Pods that may be created above the desired count during the update: a number or a percentage.'),
      },
      description,
    ),
  );

const DeploymentSpec = def(
  APPS + 'DeploymentSpec',
  object(
    {
      replicas: int32('Number of desired pods. Defaults to 1.'),
      selector: ref(LabelSelector, "Label selector for the pods; must match the template's labels. Cannot be changed."),
      template: ref(PodTemplateSpec, 'Template of the pods; restartPolicy must be Always.'),
      strategy: withPatchStrategy(
        ref(
          def(
            APPS + 'DeploymentStrategy',
            object(
              {
                type: enumOf(['Recreate', 'RollingUpdate'], 'Recreate or RollingUpdate. Defaults to RollingUpdate.'),
                rollingUpdate: ref(rollingUpdate('RollingUpdateDeployment', 'Rolling update parameters.', 'Defaults to 25%.'), 'Rolling update parameters; only with type RollingUpdate.'),
              },
              'How old pods are replaced by new ones.',
            ),
          ),
          'How old pods are replaced by new ones.',
        ),
        'retainKeys',
      ),
      minReadySeconds: int32('Seconds a new pod must be ready without crashing to count as available.'),
      revisionHistoryLimit: int32('Old ReplicaSets kept for rollback. Defaults to 10.'),
      paused: bool('Pauses rollouts.'),
      progressDeadlineSeconds: int32('Seconds before a stalled rollout is reported as failed. Defaults to 600.'),
    },
    'The desired state of a deployment.',
    ['selector', 'template'],
  ),
);

const DeploymentStatus = def(
  APPS + 'DeploymentStatus',
  object(
    {
      observedGeneration: int64('The generation observed by the deployment controller.'),
      replicas: int32('Pods targeted by the deployment (non-terminated, with the selector).'),
      updatedReplicas: int32('Pods with the desired template.'),
      readyReplicas: int32('Pods with a Ready condition.'),
      availableReplicas: int32('Pods ready for at least minReadySeconds.'),
      unavailableReplicas: int32('Pods still needed for 100% availability.'),
      terminatingReplicas: int32('Terminating pods of the deployment.'),
      conditions: keyedList(condition(APPS + 'DeploymentCondition', 'A condition of a deployment: Available, Progressing or ReplicaFailure.', ['lastUpdateTime', 'lastTransitionTime']), 'type', 'Latest observations of the deployment state.'),
      collisionCount: int32('Hash collision count, used to name new ReplicaSets.'),
    },
    'The most recently observed status of a deployment.',
  ),
);

const ReplicaSetSpec = def(
  APPS + 'ReplicaSetSpec',
  object(
    {
      replicas: int32('Number of desired pods. Defaults to 1.'),
      minReadySeconds: int32('Seconds a new pod must be ready to count as available.'),
      selector: ref(LabelSelector, "Label query over pods; must match the template's labels. Cannot be changed."),
      template: ref(PodTemplateSpec, 'Template of the pods created when too few exist.'),
    },
    'The desired state of a ReplicaSet.',
    ['selector'],
  ),
);

const ReplicaSetStatus = def(
  APPS + 'ReplicaSetStatus',
  object(
    {
      replicas: int32('Most recently observed number of non-terminating pods.'),
      fullyLabeledReplicas: int32('Pods whose labels match the template labels.'),
      readyReplicas: int32('Pods with a Ready condition.'),
      availableReplicas: int32('Pods ready for at least minReadySeconds.'),
      terminatingReplicas: int32('Terminating pods.'),
      observedGeneration: int64('The generation observed by the ReplicaSet controller.'),
      conditions: keyedList(condition(APPS + 'ReplicaSetCondition', 'A condition of a ReplicaSet.', ['lastTransitionTime']), 'type', 'Latest observations of the ReplicaSet state.'),
    },
    'The most recently observed status of a ReplicaSet.',
  ),
);

const DaemonSetSpec = def(
  APPS + 'DaemonSetSpec',
  object(
    {
      selector: ref(LabelSelector, "Label query over pods; must match the template's labels. Cannot be changed."),
      template: ref(PodTemplateSpec, 'Template of the pod run on every eligible node; restartPolicy must be Always.'),
      updateStrategy: ref(
        def(
          APPS + 'DaemonSetUpdateStrategy',
          object(
            {
              type: enumOf(['OnDelete', 'RollingUpdate'], 'RollingUpdate or OnDelete. Defaults to RollingUpdate.'),
              rollingUpdate: ref(rollingUpdate('RollingUpdateDaemonSet', 'Rolling update parameters of a daemon set.', 'Defaults to 1.'), 'Rolling update parameters; only with type RollingUpdate.'),
            },
            'How daemon pods are replaced.',
          ),
        ),
        'How daemon pods are replaced when the template changes.',
      ),
      minReadySeconds: int32('Seconds a new pod must be ready to count as available.'),
      revisionHistoryLimit: int32('Old histories kept for rollback. Defaults to 10.'),
    },
    'The desired state of a daemon set.',
    ['selector', 'template'],
  ),
);

const DaemonSetStatus = def(
  APPS + 'DaemonSetStatus',
  object(
    {
      currentNumberScheduled: int32('Nodes running at least one daemon pod that should.'),
      numberMisscheduled: int32('Nodes running a daemon pod that should not.'),
      desiredNumberScheduled: int32('Nodes that should run the daemon pod.'),
      numberReady: int32('Nodes with a ready daemon pod.'),
      observedGeneration: int64('The generation observed by the daemon set controller.'),
      updatedNumberScheduled: int32('Nodes running the updated daemon pod.'),
      numberAvailable: int32('Nodes with an available daemon pod.'),
      numberUnavailable: int32('Nodes that should run an available daemon pod and do not.'),
      collisionCount: int32('Hash collision count.'),
      conditions: keyedList(condition(APPS + 'DaemonSetCondition', 'A condition of a daemon set.', ['lastTransitionTime']), 'type', 'Latest observations of the daemon set state.'),
    },
    'The most recently observed status of a daemon set.',
  ),
);

// ---------------------------------------------------------------------------
// batch/v1

const BATCH = 'io.k8s.api.batch.v1.';

const JobSpec = def(
  BATCH + 'JobSpec',
  object(
    {
      parallelism: int32('Most pods the job runs at once. Defaults to 1.'),
      completions: int32('Successful pods needed for the job to complete. Defaults to 1.'),
      activeDeadlineSeconds: int64('Seconds after startTime the job may stay active before it is failed (DeadlineExceeded).'),
      backoffLimit: int32('Failed pods tolerated before the job is failed (BackoffLimitExceeded). Defaults to 6.'),
      selector: ref(LabelSelector, 'Label query over pods; generated by the server unless manualSelector is true.'),
      manualSelector: bool('Whether the selector is set by the user rather than generated.'),
      template: ref(PodTemplateSpec, 'Template of the pods; restartPolicy must be OnFailure or Never.'),
      ttlSecondsAfterFinished: int32('Seconds after the job finishes before it is deleted.'),
      completionMode: enumOf(['NonIndexed', 'Indexed'], 'NonIndexed or Indexed. Defaults to NonIndexed.'),
      suspend: bool('Whether the job controller should create no pods. Defaults to false.'),
      podReplacementPolicy: enumOf(['TerminatingOrFailed', 'Failed'], 'When failed pods are replaced.'),
    },
    'The desired behaviour of a job.',
    ['template'],
  ),
);

const JobStatus = def(
  BATCH + 'JobStatus',
  object(
    {
      conditions: keyedList(condition(BATCH + 'JobCondition', 'A condition of a job: Complete, Failed, Suspended, ...', ['lastProbeTime', 'lastTransitionTime']), 'type', 'Latest observations of the job state.'),
      startTime: ref(Time, 'When the job controller started processing the job.'),
      completionTime: ref(Time, 'When the job completed.'),
      active: int32('Pending or running pods.'),
      succeeded: int32('Pods that succeeded.'),
      failed: int32('Pods that failed.'),
      terminating: int32('Pods that are terminating.'),
      ready: int32('Active pods with a Ready condition.'),
      completedIndexes: str('Completed indexes of an Indexed job.'),
      observedGeneration: int64('The generation observed by the job controller.'),
    },
    'The most recently observed status of a job.',
  ),
);

const JobTemplateSpec = def(
  BATCH + 'JobTemplateSpec',
  object(
    {
      metadata: metadataField,
      spec: ref(JobSpec, 'Specification of the jobs created from this template.'),
    },
    'The template of the jobs a cron job creates.',
  ),
);

const CronJobSpec = def(
  BATCH + 'CronJobSpec',
  object(
    {
      schedule: str('The schedule in cron format.'),
      timeZone: str('The time zone the schedule is read in; defaults to the controller\'s (UTC for mk).'),
      startingDeadlineSeconds: int64('Seconds after a missed scheduled time within which the job may still start.'),
      concurrencyPolicy: enumOf(['Allow', 'Forbid', 'Replace'], 'What to do when a run is due while the previous one runs. Defaults to Allow.'),
      suspend: bool('Suspends subsequent runs. Defaults to false.'),
      jobTemplate: ref(JobTemplateSpec, 'The job created at each scheduled time.'),
      successfulJobsHistoryLimit: int32('Finished successful jobs kept. Defaults to 3.'),
      failedJobsHistoryLimit: int32('Finished failed jobs kept. Defaults to 1.'),
    },
    'The desired behaviour of a cron job.',
    ['schedule', 'jobTemplate'],
  ),
);

const CronJobStatus = def(
  BATCH + 'CronJobStatus',
  object(
    {
      active: array(ObjectReference, 'The jobs currently running.'),
      lastScheduleTime: ref(Time, 'When a job was last successfully scheduled.'),
      lastSuccessfulTime: ref(Time, 'When a job last completed successfully.'),
    },
    'The most recently observed status of a cron job.',
  ),
);

// ---------------------------------------------------------------------------
// The kinds

const Pod = kind('', 'v1', 'Pod', 'A collection of containers that run together on a host, created by clients and scheduled onto nodes.', {
  spec: ref(PodSpec, 'Specification of the desired behaviour of the pod.'),
  status: ref(PodStatus, 'Most recently observed status of the pod. Read-only.'),
});

const Node = kind('', 'v1', 'Node', 'A worker machine; each node runs the kubelet (the mk agent).', {
  spec: ref(NodeSpec, 'Behaviour of the node.'),
  status: ref(NodeStatus, 'Most recently observed status of the node.'),
});

const Namespace = kind('', 'v1', 'Namespace', 'A scope for names; namespaced objects live in exactly one namespace.', {
  spec: ref(
    def(CORE + 'NamespaceSpec', object({ finalizers: strings('Finalizers that must run before the namespace is removed; kubernetes is added on create.') }, 'The desired state of a namespace.')),
    'Behaviour of the namespace.',
  ),
  status: ref(
    def(
      CORE + 'NamespaceStatus',
      object(
        {
          phase: str('Active or Terminating.'),
          conditions: keyedList(condition(CORE + 'NamespaceCondition', 'A condition of a namespace.', ['lastTransitionTime']), 'type', 'Latest observations of the namespace state.'),
        },
        'The status of a namespace.',
      ),
    ),
    'Status of the namespace.',
  ),
});

const Service = kind('', 'v1', 'Service', 'A named abstraction of a set of pods behind one virtual IP and port set, load-balanced by the proxy.', {
  spec: ref(ServiceSpec, 'Behaviour of the service.'),
  status: ref(ServiceStatus, 'Most recently observed status of the service. Read-only.'),
});

const Endpoints = kind('', 'v1', 'Endpoints', 'The endpoints implementing a service, named like the service.', {
  subsets: array(EndpointSubset, 'Sets of addresses and ports; the union of all subsets is the set of endpoints.'),
});

const ConfigMap = kind('', 'v1', 'ConfigMap', 'Non-confidential configuration data in key-value pairs.', {
  data: stringMap('UTF-8 configuration data; keys consist of alphanumerics, -, _ and .'),
  binaryData: mapOf(bytes(), 'Binary data, base64-encoded; keys must not overlap data.'),
  immutable: bool('If true, data can no longer be changed (only metadata).'),
});

const Secret = kind('', 'v1', 'Secret', 'Secret data of a certain type; values are base64-encoded.', {
  data: mapOf(bytes(), 'Secret data, base64-encoded; keys consist of alphanumerics, -, _ and .'),
  stringData: stringMap('Write-only convenience: non-binary values merged into data on write, winning over data.'),
  type: str('Used to check the data, e.g. Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson. Defaults to Opaque. Cannot be changed.'),
  immutable: bool('If true, data can no longer be changed (only metadata).'),
});

const EventSource = def(CORE + 'EventSource', object({ component: str('Component reporting the event.'), host: str('Node name the event was generated on.') }, 'The source of an event.'));

const Event = kind(
  '',
  'v1',
  'Event',
  'A report of an event somewhere in the cluster.',
  {
    involvedObject: ref(ObjectReference, 'The object this event is about.'),
    reason: str('Short, machine-understandable reason for the transition, in CamelCase.'),
    message: str('Human-readable description.'),
    source: ref(EventSource, 'The component reporting the event.'),
    firstTimestamp: ref(Time, 'When the event was first recorded.'),
    lastTimestamp: ref(Time, 'When the most recent occurrence was recorded.'),
    count: int32('Number of times the event occurred.'),
    type: str('Normal or Warning.'),
    eventTime: ref(MicroTime, 'When the event was first observed (events.k8s.io style events).'),
    series: ref(def(CORE + 'EventSeries', object({ count: int32('Occurrences in the series.'), lastObservedTime: ref(MicroTime, 'Time of the last occurrence.') }, 'A series of occurrences of an event.'))),
    action: str('What action was taken or failed about the object.'),
    related: ref(ObjectReference, 'A secondary object for more complex actions.'),
    reportingComponent: str('Controller that emitted the event, e.g. kubernetes.io/kubelet.'),
    reportingInstance: str('ID of the controller instance, e.g. kubelet-xyzf.'),
  },
  ['metadata', 'involvedObject'],
);

const ServiceAccount = kind('', 'v1', 'ServiceAccount', 'An identity for processes that run in a pod.', {
  secrets: keyedList(ObjectReference, 'name', 'Secrets pods running as this service account may use.'),
  imagePullSecrets: array(LocalObjectReference, 'Secrets used to pull images of pods using this account.'),
  automountServiceAccountToken: bool('Whether pods running as this account get a token mounted automatically.'),
});

const Deployment = kind('apps', 'v1', 'Deployment', 'Declarative updates for pods and ReplicaSets.', {
  spec: ref(DeploymentSpec, 'Desired behaviour of the deployment.'),
  status: ref(DeploymentStatus, 'Most recently observed status of the deployment.'),
});

const ReplicaSet = kind('apps', 'v1', 'ReplicaSet', 'Ensures that a number of pod replicas is running at any time.', {
  spec: ref(ReplicaSetSpec, 'Desired behaviour of the ReplicaSet.'),
  status: ref(ReplicaSetStatus, 'Most recently observed status of the ReplicaSet.'),
});

const DaemonSet = kind('apps', 'v1', 'DaemonSet', 'Runs a copy of a pod on every eligible node.', {
  spec: ref(DaemonSetSpec, 'Desired behaviour of the daemon set.'),
  status: ref(DaemonSetStatus, 'Most recently observed status of the daemon set.'),
});

const Job = kind('batch', 'v1', 'Job', 'A single job: pods run to completion.', {
  spec: ref(JobSpec, 'Desired behaviour of the job.'),
  status: ref(JobStatus, 'Most recently observed status of the job.'),
});

const CronJob = kind('batch', 'v1', 'CronJob', 'A job run on a schedule.', {
  spec: ref(CronJobSpec, 'Desired behaviour of the cron job.'),
  status: ref(CronJobStatus, 'Most recently observed status of the cron job.'),
});

const Lease = kind('coordination.k8s.io', 'v1', 'Lease', 'A lease: node heartbeats and leader election.', {
  spec: ref(
    def(
      COORDINATION + 'LeaseSpec',
      object(
        {
          holderIdentity: str('Identity of the current holder.'),
          leaseDurationSeconds: int32('Seconds candidates wait before taking the lease over; measured from renewTime.'),
          acquireTime: ref(MicroTime, 'When the current holder acquired the lease.'),
          renewTime: ref(MicroTime, 'When the current holder last renewed the lease.'),
          leaseTransitions: int32('Number of holder changes.'),
          strategy: str('Strategy for picking the leader in coordinated leader election.'),
          preferredHolder: str('Signals the holder should give up the lease in favour of this identity.'),
        },
        'The specification of a lease.',
      ),
    ),
    'Specification of the lease.',
  ),
});

const PriorityClass = kind(
  'scheduling.k8s.io', 'v1', 'PriorityClass',
  'Maps a priority class name to the integer priority of the pods that name it.',
  {
    value: int32('The priority of pods of this class; higher is more important.'),
    globalDefault: bool('Whether pods without a priorityClassName get this class.'),
    description: str('What the class is for.'),
    preemptionPolicy: enumOf(['Never', 'PreemptLowerPriority'], 'Whether pods of this class may preempt lower-priority pods.'),
  },
  ['value'],
);

// ---------------------------------------------------------------------------
// authorization.k8s.io/v1: reviews a client asks about itself (kubectl auth can-i)

const AUTHORIZATION = 'io.k8s.api.authorization.v1.';

const ResourceAttributes = def(
  AUTHORIZATION + 'ResourceAttributes',
  object(
    {
      namespace: str('The namespace of the action; "" means all namespaces for namespaced kinds.'),
      verb: str('A kubernetes resource API verb, like get, list, watch, create, update, delete, proxy; "*" means all.'),
      group: str('The API group of the resource; "*" means all.'),
      version: str('The API version of the resource; "*" means all.'),
      resource: str('One of the existing resource types; "*" means all.'),
      subresource: str('One of the existing subresources; "" means none.'),
      name: str('The name of the resource acted on; "" means all.'),
    },
    'The attributes of a request to the resource API.',
  ),
);

const NonResourceAttributes = def(
  AUTHORIZATION + 'NonResourceAttributes',
  object({ path: str('The URL path of the request.'), verb: str('The standard HTTP verb.') }, 'The attributes of a request to a non-resource path.'),
);

const SubjectAccessReviewStatus = def(
  AUTHORIZATION + 'SubjectAccessReviewStatus',
  object(
    {
      allowed: bool('Whether the action is allowed.'),
      denied: bool('Whether the action is denied outright (no other authorizer may allow it).'),
      reason: str('Why the action is allowed or denied.'),
      evaluationError: str('An error evaluating the request; the answer may still stand.'),
    },
    'The answer of an access review.',
    ['allowed'],
  ),
);

const SelfSubjectAccessReview = kind(
  'authorization.k8s.io', 'v1', 'SelfSubjectAccessReview',
  'Checks whether the current user can perform an action. Not stored: a create answers in status.',
  {
    spec: ref(
      def(
        AUTHORIZATION + 'SelfSubjectAccessReviewSpec',
        object(
          {
            resourceAttributes: ref(ResourceAttributes, 'The request to a resource; exactly one of resourceAttributes and nonResourceAttributes must be set.'),
            nonResourceAttributes: ref(NonResourceAttributes, 'The request to a non-resource path.'),
          },
          'The action to check; exactly one of its fields must be set.',
        ),
      ),
      'The action being checked.',
    ),
    status: ref(SubjectAccessReviewStatus, 'Filled in by the server: whether the action is allowed.'),
  },
  ['spec'],
);

const ResourceRule = def(
  AUTHORIZATION + 'ResourceRule',
  object(
    {
      verbs: strings('Verbs allowed on the resources; "*" means all.'),
      apiGroups: strings('API groups of the resources; "*" means all.'),
      resources: strings('Resources the rule applies to; "*" means all.'),
      resourceNames: strings('Names of the objects the rule applies to; empty means all.'),
    },
    'What a user may do to resources.',
    ['verbs'],
  ),
);

const NonResourceRule = def(
  AUTHORIZATION + 'NonResourceRule',
  object({ verbs: strings('Verbs allowed; "*" means all.'), nonResourceURLs: strings('Paths allowed; "*" means all, a trailing * is a prefix match.') }, 'What a user may do to non-resource paths.', ['verbs']),
);

const SelfSubjectRulesReview = kind(
  'authorization.k8s.io', 'v1', 'SelfSubjectRulesReview',
  'Lists what the current user can do in a namespace. Not stored: a create answers in status.',
  {
    spec: ref(
      def(AUTHORIZATION + 'SelfSubjectRulesReviewSpec', object({ namespace: str('The namespace to list the rules of.') }, 'The namespace to review.')),
      'The namespace to review.',
    ),
    status: ref(
      def(
        AUTHORIZATION + 'SubjectRulesReviewStatus',
        object(
          {
            resourceRules: array(ResourceRule, 'What the user may do to resources.'),
            nonResourceRules: array(NonResourceRule, 'What the user may do to non-resource paths.'),
            incomplete: bool('True when the server cannot list every rule (an authorizer does not support listing).'),
            evaluationError: str('An error listing the rules.'),
          },
          'The rules of a user.',
          ['resourceRules', 'nonResourceRules', 'incomplete'],
        ),
      ),
      'Filled in by the server: the rules.',
    ),
  },
  ['spec'],
);

// ---------------------------------------------------------------------------
// Bodies of the API that are not objects of a kind: lists, Status, DeleteOptions,
// subresources. /openapi documents the operations with them.

const ListMeta = def(
  META + 'ListMeta',
  object(
    {
      resourceVersion: str('The version of the list: a watch from it sees every later change.'),
      continue: str('Set when the list was cut short by limit: pass it as ?continue= to get the next page.'),
      remainingItemCount: int64('How many items the rest of a limited list holds, when known.'),
      selfLink: str('Deprecated; never set.'),
    },
    'Metadata of a list.',
  ),
);

const StatusCause = def(
  META + 'StatusCause',
  object(
    {
      reason: str('A machine-readable reason, e.g. FieldValueRequired.'),
      message: str('A human-readable description of the cause.'),
      field: str('The field the cause is about, e.g. spec.containers[0].name.'),
    },
    'One cause of an error.',
  ),
);

const StatusDetails = def(
  META + 'StatusDetails',
  object(
    {
      name: str('The name of the object the status is about.'),
      group: str('The group of the object.'),
      kind: str('The kind (resource, for some errors) of the object.'),
      uid: str('The UID of the object.'),
      causes: array(StatusCause, 'The causes of the error, one per field for validation errors.'),
      retryAfterSeconds: int32('How long to wait before retrying.'),
    },
    'Details of a Status.',
  ),
);

def(
  META + 'Status',
  {
    ...object(
      {
        apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
        kind: str('Kind is a string value representing the REST resource this object represents.'),
        metadata: ref(ListMeta, 'Standard list metadata.'),
        status: str('Success or Failure.'),
        message: str('A human-readable description of the outcome.'),
        reason: str('A machine-readable reason, e.g. NotFound, AlreadyExists, Invalid.'),
        details: ref(StatusDetails, 'More about the reason; depends on it.'),
        code: int32('The HTTP status code of the outcome.'),
      },
      'The outcome of a call that does not return an object: errors, and some deletes.',
    ),
    'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Status' }],
  },
);

const Preconditions = def(
  META + 'Preconditions',
  object({ uid: str('The object must have this UID.'), resourceVersion: str('The object must have this resourceVersion.') }, 'Conditions a delete checks first; a mismatch is a 409 Conflict.'),
);

def(
  META + 'DeleteOptions',
  {
    ...object(
      {
        apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
        kind: str('Kind is a string value representing the REST resource this object represents.'),
        gracePeriodSeconds: int64('Seconds before the object is removed; 0 removes it at once. Pods default to their terminationGracePeriodSeconds.'),
        preconditions: ref(Preconditions, 'Must hold for the delete to happen.'),
        orphanDependents: bool('Deprecated: use propagationPolicy Orphan.'),
        propagationPolicy: str('What happens to dependents: Orphan, Background (the default) or Foreground.'),
        dryRun: strings('All: check and answer, but store nothing.'),
      },
      'Options of a delete.',
    ),
    'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'DeleteOptions' }],
  },
);

def(META + 'Patch', { type: 'object', description: 'The body of a PATCH: a JSON patch, a JSON merge patch, a strategic merge patch or an apply configuration, by Content-Type.' });

const RawExtension = def('io.k8s.apimachinery.pkg.runtime.RawExtension', opaque('An embedded object of any kind.'));

def(
  META + 'WatchEvent',
  object(
    {
      type: str('ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.'),
      object: ref(RawExtension, 'The object (for ERROR, a Status).'),
    },
    'One event of a watch stream.',
    ['type', 'object'],
  ),
);

def(
  CORE + 'Binding',
  {
    ...object(
      {
        apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
        kind: str('Kind is a string value representing the REST resource this object represents.'),
        metadata: metadataField,
        target: ref(ObjectReference, 'The node to bind the pod to.'),
      },
      'Binds a pod to a node (what a scheduler posts to pods/binding).',
      ['target'],
    ),
    'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Binding' }],
  },
);

const AUTOSCALING = 'io.k8s.api.autoscaling.v1.';

def(
  AUTOSCALING + 'Scale',
  {
    ...object(
      {
        apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
        kind: str('Kind is a string value representing the REST resource this object represents.'),
        metadata: metadataField,
        spec: ref(def(AUTOSCALING + 'ScaleSpec', object({ replicas: int32('The desired number of replicas.') }, 'The desired scale.')), 'The desired scale.'),
        status: ref(
          def(
            AUTOSCALING + 'ScaleStatus',
            object({ replicas: int32('The observed number of replicas.'), selector: str('The label selector of the pods, in its string form.') }, 'The observed scale.', ['replicas']),
          ),
          'The observed scale. Read-only.',
        ),
      },
      'The scale subresource of a workload (deployments/scale, replicasets/scale).',
    ),
    'x-kubernetes-group-version-kind': [{ group: 'autoscaling', version: 'v1', kind: 'Scale' }],
  },
);

/** One schema per kind, keyed by kind; validation and (later) /openapi/v3 both use them. */
export const schemas: Record<string, JSONSchema> = {
  Namespace,
  Pod,
  Node,
  Service,
  Endpoints,
  ConfigMap,
  Secret,
  Event,
  ServiceAccount,
  Deployment,
  ReplicaSet,
  DaemonSet,
  Job,
  CronJob,
  Lease,
  PriorityClass,
  SelfSubjectAccessReview,
  SelfSubjectRulesReview,
};
