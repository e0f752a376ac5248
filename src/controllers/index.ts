import type { ControllerFactory } from './manager';

/**
 * Every controller `mk server` runs, in start order. Adding a controller is
 * adding its factory here.
 */
export const controllerFactories: ControllerFactory[] = [];
