import { ApiObject, type ApiObjectMetadata, type GroupVersionKind } from 'cdk8s';
import type { Construct } from 'constructs';

/** The props every Istio-API object takes: Kubernetes metadata and the kind's `spec`. */
export interface IstioObjectProps<Spec> {
  /**
   * Object metadata. Set `name` explicitly: Istio objects are referred to by name.
   * @default - cdk8s generates a name from the construct path
   */
  readonly metadata?: ApiObjectMetadata;
  /** The object's spec, field for field as in Istio's API reference. */
  readonly spec: Spec;
}

/**
 * The shared base of the `istio.*` classes: an ApiObject whose spec is typed with the shapes
 * of lib/api/types.ts, so an L1 object is checked by the compiler exactly like YAML input is
 * checked by lib/api. Use one of its subclasses.
 *
 * @example
 * const vs = new istio.VirtualService(chart, 'reviews', { metadata: { name: 'reviews' }, spec: { hosts: ['reviews'] } });
 * vs.spec.hosts; // ['reviews']
 */
export abstract class IstioObject<Spec> extends ApiObject {
  /** The spec as given (not resolved). */
  public readonly spec: Spec;

  protected constructor(scope: Construct, id: string, gvk: GroupVersionKind, props: IstioObjectProps<Spec>) {
    super(scope, id, { ...gvk, metadata: props.metadata, spec: props.spec });
    this.spec = props.spec;
  }
}
