/** Store key layout of the catalog. The one place that knows it. */
export const keys = {
  volume: (id: string) => `volumes/${id}`,
  volumes: 'volumes/',
  volumeName: (service: string, name: string) => `volume-names/${service}/${name}`,
  snapshot: (id: string) => `snapshots/${id}`,
  snapshots: 'snapshots/',
  snapshotName: (service: string, name: string) => `snapshot-names/${service}/${name}`,
  pool: (poolId: string) => `pools/${poolId}`,
  pools: 'pools/',
  serviceUsage: (service: string) => `service-usage/${service}`,
  idempotency: (caller: string, key: string) => `idempotency/${caller}/${key}`,
  idempotencies: 'idempotency/',
  claim: (id: string) => `claims/${id}`,
  claims: 'claims/',
  offerDecline: (scheduler: string, offerId: string) => `offer-declines/${scheduler}/${offerId}`,
  offerDeclines: (scheduler: string) => `offer-declines/${scheduler}/`,
  allOfferDeclines: 'offer-declines/',
  serviceInstance: (id: string) => `service-instances/${id}`,
  serviceInstances: 'service-instances/',
  serviceBinding: (instanceId: string, bindingId: string) => `service-bindings/${instanceId}/${bindingId}`,
  serviceBindings: (instanceId: string) => `service-bindings/${instanceId}/`,
} as const;

export const poolId = (service: string, pool: string): string => `${service}/${pool}`;
