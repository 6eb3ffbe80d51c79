/** Why kvmkit will not make this bridge, with what to do instead: one line each. */
export class BridgeRefusal extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}
