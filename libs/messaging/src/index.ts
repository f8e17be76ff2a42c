export * from './periodic.ts';
export * from './port.ts';
export * from './snooze.ts';
export * from './state-view.ts';
