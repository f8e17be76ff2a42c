export * from './port.ts';
export * from './state-view.ts';
