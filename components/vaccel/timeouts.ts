/**
 * The bound of the vAccel pipeline's wait, overridable as testbed:vaccel.readySeconds (components/spec/schema.ts),
 * with no imports: the spec reads it as its default without loading @pulumi/kubernetes (CONTRIBUTING.md, "Numbers").
 */

/**
 * Bound on a Deployment of the pipeline becoming available on its member: pulumi-kubernetes' own Deployment await,
 * which the pipeline's `pulumi.com/waitFor` replaces, allows 10 minutes (DefaultDeploymentTimeoutMins,
 * provider/pkg/await/deployment.go); an image pull on a Pi-class board over a home network (the app's image is
 * several hundred MB) takes minutes of it.
 */
export const PIPELINE_READY_TIMEOUT_S = 600;
