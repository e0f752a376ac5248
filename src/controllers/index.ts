import type { ControllerFactory } from './manager';
import { daemonSetControllerFactory } from './daemonset-controller';
import { jobControllerFactory } from './job-controller';
import { cronJobControllerFactory } from './cronjob-controller';
import { replicaSetControllerFactory } from './replicaset-controller';
import { deploymentControllerFactory } from './deployment-controller';
import { garbageCollectorFactory } from './garbage-collector';
import { namespaceControllerFactory } from './namespace-controller';
import { endpointsControllerFactory } from './endpoints-controller';

/**
 * Every controller `mk server` runs, in start order. Adding a controller is
 * adding its factory here.
 */
export const controllerFactories: ControllerFactory[] = [
  daemonSetControllerFactory,
  jobControllerFactory,
  cronJobControllerFactory,
  replicaSetControllerFactory,
  deploymentControllerFactory,
  garbageCollectorFactory,
  namespaceControllerFactory,
  endpointsControllerFactory,
];
